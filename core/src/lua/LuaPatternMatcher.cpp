#include "lua/LuaPatternMatcher.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "lua/LuaBudget.h"

namespace parley {

static_assert(std::is_trivially_destructible_v<LuaPatternMatcher>,
              "Lua may longjmp over a matcher: it must have nothing to destroy");

namespace {

constexpr char kEscape = '%';
constexpr int kMaxDepth = 200;  // MAXCCALLS of the stock matcher: "pattern too complex"
constexpr uint64_t kChargeEvery = 256;

int byte(char c) {
    return static_cast<unsigned char>(c);
}

// %a, %d, ... and their complements %A, %D, ...
bool classMatches(int c, int cl) {
    bool matches = false;
    switch (std::tolower(cl)) {
        case 'a':
            matches = std::isalpha(c) != 0;
            break;
        case 'c':
            matches = std::iscntrl(c) != 0;
            break;
        case 'd':
            matches = std::isdigit(c) != 0;
            break;
        case 'g':
            matches = std::isgraph(c) != 0;
            break;
        case 'l':
            matches = std::islower(c) != 0;
            break;
        case 'p':
            matches = std::ispunct(c) != 0;
            break;
        case 's':
            matches = std::isspace(c) != 0;
            break;
        case 'u':
            matches = std::isupper(c) != 0;
            break;
        case 'w':
            matches = std::isalnum(c) != 0;
            break;
        case 'x':
            matches = std::isxdigit(c) != 0;
            break;
        case 'z':  // deprecated, but liblua 5.4 still knows it
            matches = c == 0;
            break;
        default:
            return cl == c;
    }
    return std::isupper(cl) != 0 ? !matches : matches;
}

}  // namespace

LuaPatternMatcher::LuaPatternMatcher(const char* subject, size_t subjectLength, const char* pattern,
                                     size_t patternLength, LuaBudget* budget)
    : subjectBegin_(subject),
      subjectEnd_(subject + subjectLength),
      patternBegin_(pattern),
      patternEnd_(pattern + patternLength),
      budget_(budget),
      captures_{} {
    reset();
}

void LuaPatternMatcher::reset() {
    level_ = 0;
    depthLeft_ = kMaxDepth;
}

void LuaPatternMatcher::fail(const char* message) {
    throw std::runtime_error(message);
}

void LuaPatternMatcher::step(uint64_t cost) {
    pendingSteps_ += cost;
    if (pendingSteps_ >= kChargeEvery) {
        flush();
    }
}

void LuaPatternMatcher::flush() {
    const uint64_t steps = pendingSteps_;
    pendingSteps_ = 0;
    if (budget_ != nullptr && !budget_->charge(steps)) {
        fail(budget_->stopReason());
    }
}

const char* LuaPatternMatcher::classEnd(const char* p) const {
    const char c = *p++;
    if (c == kEscape) {
        if (p >= patternEnd_) {
            fail("malformed pattern (ends with '%')");
        }
        return p + 1;
    }
    if (c == '[') {
        if (p < patternEnd_ && *p == '^') {
            ++p;
        }
        // The first character of a set is never its end: "[]]" is the set of ']'.
        do {
            if (p >= patternEnd_) {
                fail("malformed pattern (missing ']')");
            }
            const char member = *p++;
            if (member == kEscape && p < patternEnd_) {
                ++p;
            }
        } while (p >= patternEnd_ || *p != ']');
        return p + 1;
    }
    return p;
}

bool LuaPatternMatcher::bracketMatches(int c, const char* p, const char* ec) const {
    bool inSet = true;
    if (*(p + 1) == '^') {
        inSet = false;
        ++p;
    }
    while (++p < ec) {
        if (*p == kEscape) {
            ++p;
            if (classMatches(c, byte(*p))) {
                return inSet;
            }
        } else if (*(p + 1) == '-' && p + 2 < ec) {
            p += 2;
            if (byte(*(p - 2)) <= c && c <= byte(*p)) {
                return inSet;
            }
        } else if (byte(*p) == c) {
            return inSet;
        }
    }
    return !inSet;
}

bool LuaPatternMatcher::singleMatch(const char* s, const char* p, const char* ep) const {
    if (s >= subjectEnd_) {
        return false;
    }
    const int c = byte(*s);
    switch (*p) {
        case '.':
            return true;
        case kEscape:
            return classMatches(c, byte(*(p + 1)));
        case '[':
            return bracketMatches(c, p, ep - 1);
        default:
            return byte(*p) == c;
    }
}

const char* LuaPatternMatcher::match(const char* s, const char* p) {
    if (depthLeft_-- == 0) {
        fail("pattern too complex");
    }
    step();
init:
    if (p != patternEnd_) {
        switch (*p) {
            case '(':
                if (p + 1 < patternEnd_ && *(p + 1) == ')') {
                    s = startCapture(s, p + 2, kPosition);
                } else {
                    s = startCapture(s, p + 1, kUnfinished);
                }
                break;
            case ')':
                s = endCapture(s, p + 1);
                break;
            case '$':
                if (p + 1 != patternEnd_) {
                    goto literal;
                }
                s = (s == subjectEnd_) ? s : nullptr;
                break;
            case kEscape:
                if (p + 1 >= patternEnd_) {
                    goto literal;  // classEnd reports the dangling '%'
                }
                switch (*(p + 1)) {
                    case 'b':
                        s = matchBalance(s, p + 2);
                        if (s != nullptr) {
                            p += 4;
                            goto init;
                        }
                        break;
                    case 'f': {
                        p += 2;
                        if (p >= patternEnd_ || *p != '[') {
                            fail("missing '[' after '%f' in pattern");
                        }
                        const char* ep = classEnd(p);
                        const int previous = (s == subjectBegin_) ? 0 : byte(*(s - 1));
                        const int current = (s < subjectEnd_) ? byte(*s) : 0;
                        if (!bracketMatches(previous, p, ep - 1) &&
                            bracketMatches(current, p, ep - 1)) {
                            p = ep;
                            goto init;
                        }
                        s = nullptr;
                        break;
                    }
                    case '0':
                    case '1':
                    case '2':
                    case '3':
                    case '4':
                    case '5':
                    case '6':
                    case '7':
                    case '8':
                    case '9':
                        s = matchCapture(s, byte(*(p + 1)));
                        if (s != nullptr) {
                            p += 2;
                            goto init;
                        }
                        break;
                    default:
                        goto literal;
                }
                break;
            default:
            literal : {
                const char* ep = classEnd(p);
                const char suffix = ep < patternEnd_ ? *ep : '\0';
                if (!singleMatch(s, p, ep)) {
                    if (suffix == '*' || suffix == '?' || suffix == '-') {
                        p = ep + 1;  // accepts zero repetitions
                        goto init;
                    }
                    s = nullptr;
                } else {
                    switch (suffix) {
                        case '?': {
                            const char* rest = match(s + 1, ep + 1);
                            if (rest != nullptr) {
                                s = rest;
                            } else {
                                p = ep + 1;
                                goto init;
                            }
                            break;
                        }
                        case '+':
                            s = maxExpand(s + 1, p, ep);
                            break;
                        case '*':
                            s = maxExpand(s, p, ep);
                            break;
                        case '-':
                            s = minExpand(s, p, ep);
                            break;
                        default:
                            ++s;
                            p = ep;
                            goto init;
                    }
                }
                break;
            }
        }
    }
    ++depthLeft_;
    return s;
}

const char* LuaPatternMatcher::maxExpand(const char* s, const char* p, const char* ep) {
    ptrdiff_t count = 0;
    while (singleMatch(s + count, p, ep)) {
        ++count;
        step();
    }
    // Longest first, then give back one at a time.
    while (count >= 0) {
        const char* rest = match(s + count, ep + 1);
        if (rest != nullptr) {
            return rest;
        }
        --count;
    }
    return nullptr;
}

const char* LuaPatternMatcher::minExpand(const char* s, const char* p, const char* ep) {
    for (;;) {
        const char* rest = match(s, ep + 1);
        if (rest != nullptr) {
            return rest;
        }
        if (!singleMatch(s, p, ep)) {
            return nullptr;
        }
        ++s;
    }
}

const char* LuaPatternMatcher::startCapture(const char* s, const char* p, ptrdiff_t what) {
    if (level_ >= kMaxCaptures) {
        fail("too many captures");
    }
    captures_[level_] = Capture{s, what};
    ++level_;
    const char* rest = match(s, p);
    if (rest == nullptr) {
        --level_;
    }
    return rest;
}

const char* LuaPatternMatcher::endCapture(const char* s, const char* p) {
    int open = level_ - 1;
    while (open >= 0 && captures_[open].length != kUnfinished) {
        --open;
    }
    if (open < 0) {
        fail("invalid pattern capture");
    }
    captures_[open].length = s - captures_[open].start;
    const char* rest = match(s, p);
    if (rest == nullptr) {
        captures_[open].length = kUnfinished;
    }
    return rest;
}

const char* LuaPatternMatcher::matchBalance(const char* s, const char* p) {
    if (p + 1 >= patternEnd_) {
        fail("malformed pattern (missing arguments to '%b')");
    }
    if (s >= subjectEnd_ || *s != *p) {
        return nullptr;
    }
    const char open = *p;
    const char close = *(p + 1);
    int depth = 1;
    while (++s < subjectEnd_) {
        step();
        if (*s == close) {
            if (--depth == 0) {
                return s + 1;
            }
        } else if (*s == open) {
            ++depth;
        }
    }
    return nullptr;
}

const char* LuaPatternMatcher::matchCapture(const char* s, int which) {
    const int index = which - '1';
    if (index < 0 || index >= level_ || captures_[index].length == kUnfinished) {
        char message[64];
        std::snprintf(message, sizeof message, "invalid capture index %%%d", index + 1);
        fail(message);
    }
    const auto length = static_cast<size_t>(captures_[index].length);
    step(1 + length / 64);
    if (static_cast<size_t>(subjectEnd_ - s) >= length &&
        std::memcmp(captures_[index].start, s, length) == 0) {
        return s + length;
    }
    return nullptr;
}

const char* LuaPatternMatcher::find(const char* from) {
    const auto needle = static_cast<size_t>(patternEnd_ - patternBegin_);
    if (needle == 0) {
        return from;
    }
    if (static_cast<size_t>(subjectEnd_ - from) < needle) {
        return nullptr;
    }
    const char* last = subjectEnd_ - needle;
    for (const char* candidate = from; candidate <= last; ++candidate) {
        const char* scanFrom = candidate;
        candidate = static_cast<const char*>(
            std::memchr(candidate, *patternBegin_, static_cast<size_t>(last - candidate) + 1));
        if (candidate == nullptr) {
            step(1 + static_cast<uint64_t>(last + 1 - scanFrom) / 64);
            return nullptr;
        }
        step(1 + (needle + static_cast<size_t>(candidate - scanFrom)) / 64);
        if (std::memcmp(candidate + 1, patternBegin_ + 1, needle - 1) == 0) {
            return candidate;
        }
    }
    return nullptr;
}

}  // namespace parley
