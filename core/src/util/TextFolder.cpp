#include "util/TextFolder.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/uspoof.h>
#include <unicode/utf8.h>

#include <memory>
#include <stdexcept>

namespace parley {

namespace {

struct SpoofCheckerCloser {
    void operator()(USpoofChecker* checker) const { uspoof_close(checker); }
};

}  // namespace

struct TextFolder::Icu {
    const icu::Normalizer2* nfkcCasefold = nullptr;  // owned by ICU
    std::unique_ptr<USpoofChecker, SpoofCheckerCloser> spoofChecker;
};

const TextFolder& TextFolder::instance() {
    static const TextFolder folder;
    return folder;
}

TextFolder::TextFolder() {
    auto icu = std::make_unique<Icu>();
    UErrorCode status = U_ZERO_ERROR;
    icu->nfkcCasefold = icu::Normalizer2::getNFKCCasefoldInstance(status);
    if (U_FAILURE(status)) {
        throw std::runtime_error(std::string("ICU: no NFKC_Casefold normalizer: ") +
                                 u_errorName(status));
    }
    icu->spoofChecker.reset(uspoof_open(&status));
    if (U_FAILURE(status)) {
        throw std::runtime_error(std::string("ICU: no spoof checker: ") + u_errorName(status));
    }
    icu_ = std::move(icu);
    for (int form = 0; form < 2; ++form) {
        for (int code = 0; code < 128; ++code) {
            const char c = static_cast<char>(code);
            foldPiece(std::string_view(&c, 1), static_cast<TextForm>(form), ascii_[form][code]);
        }
    }
}

TextFolder::~TextFolder() = default;

void TextFolder::foldPiece(std::string_view piece, TextForm form, std::string& out) const {
    UErrorCode status = U_ZERO_ERROR;
    const icu::UnicodeString source = icu::UnicodeString::fromUTF8(
        icu::StringPiece(piece.data(), static_cast<int32_t>(piece.size())));
    icu::UnicodeString folded = icu_->nfkcCasefold->normalize(source, status);
    if (form == TextForm::Skeleton && U_SUCCESS(status) && !folded.isEmpty()) {
        icu::UnicodeString skeleton;
        uspoof_getSkeletonUnicodeString(icu_->spoofChecker.get(), 0, folded, skeleton, &status);
        folded = std::move(skeleton);
    }
    if (U_FAILURE(status)) {
        throw std::runtime_error(std::string("ICU: folding failed: ") + u_errorName(status));
    }
    folded.toUTF8String(out);
}

template <typename Sink>
void TextFolder::run(std::string_view source, TextForm form, Sink&& sink) const {
    if (source.size() > kMaxSourceBytes) {
        throw std::length_error("text longer than " + std::to_string(kMaxSourceBytes) + " bytes");
    }
    const auto* bytes = reinterpret_cast<const uint8_t*>(source.data());
    const auto length = static_cast<int32_t>(source.size());
    const int formIndex = form == TextForm::Skeleton ? 1 : 0;
    std::string piece;
    int32_t offset = 0;
    while (offset < length) {
        // One piece: a character NFKC_Casefold has a boundary before, and every character up
        // to the next such one (combining marks, and whatever composes with what precedes it).
        const int32_t first = offset;
        int32_t next = offset;
        UChar32 c = 0;
        U8_NEXT(bytes, next, length, c);
        if (c < 0) {
            throw std::invalid_argument("text is not valid UTF-8");
        }
        int32_t last = next;
        while (last < length) {
            int32_t after = last;
            UChar32 following = 0;
            U8_NEXT(bytes, after, length, following);
            if (following < 0) {
                throw std::invalid_argument("text is not valid UTF-8");
            }
            if (icu_->nfkcCasefold->hasBoundaryBefore(following)) {
                break;
            }
            last = after;
        }
        const auto sourceFirst = static_cast<uint32_t>(first);
        const auto sourceLast = static_cast<uint32_t>(last);
        if (last - first == 1 && c < 0x80) {
            sink(ascii_[formIndex][c], sourceFirst, sourceLast);
        } else {
            piece.clear();
            foldPiece(source.substr(static_cast<size_t>(first), static_cast<size_t>(last - first)),
                      form, piece);
            sink(piece, sourceFirst, sourceLast);
        }
        offset = last;
    }
}

std::string TextFolder::fold(std::string_view source, TextForm form) const {
    std::string out;
    out.reserve(source.size());
    run(source, form, [&](const std::string& folded, uint32_t, uint32_t) { out += folded; });
    return out;
}

FoldedText TextFolder::foldWithSpans(std::string_view source, TextForm form) const {
    FoldedText out;
    out.text.reserve(source.size());
    out.sourceFirst.reserve(source.size());
    out.sourceLast.reserve(source.size());
    run(source, form, [&](const std::string& folded, uint32_t first, uint32_t last) {
        out.text += folded;
        out.sourceFirst.insert(out.sourceFirst.end(), folded.size(), first);
        out.sourceLast.insert(out.sourceLast.end(), folded.size(), last);
    });
    return out;
}

}  // namespace parley
