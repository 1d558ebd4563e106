// util/TextFolder: the folding that text filters (scripts/moderation.lua, parley.text, the
// host table's text_fold) compare by, on the cases a determined user tries.

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "util/TextFolder.h"

namespace parley {
namespace {

std::string normalized(const std::string& text) {
    return TextFolder::instance().fold(text, TextForm::Normalized);
}

std::string skeleton(const std::string& text) {
    return TextFolder::instance().fold(text, TextForm::Skeleton);
}

TEST(TextFolder, NormalizingFoldsCaseBeyondAsciiAndWidth) {
    EXPECT_EQ(normalized("free CRÉDIT here"), "free crédit here");
    EXPECT_EQ(normalized("Cre\xCC\x81"
                         "dit"),
              "crédit")
        << "a combining accent composes";
    EXPECT_EQ(normalized("ｓｃａｍ"), "scam") << "full-width";
    EXPECT_EQ(normalized("STRASSE straße"), "strasse strasse") << "full case folding";
    EXPECT_EQ(normalized("ﬁne"), "fine") << "compatibility ligature";
    EXPECT_EQ(normalized("HTTPS://WWW.EXAMPLE.COM"), "https://www.example.com");
}

TEST(TextFolder, NormalizingRemovesInvisibleCharacters) {
    EXPECT_EQ(normalized("sc\u200Bam"), "scam") << "zero-width space";
    EXPECT_EQ(normalized("sc\u200Da\u200Cm"), "scam") << "zero-width joiner and non-joiner";
    EXPECT_EQ(normalized("sc\u00ADam"), "scam") << "soft hyphen";
    EXPECT_EQ(normalized("s\u2060c\uFEFFam\u180E"), "scam") << "word joiner, BOM, Mongolian VS";
}

TEST(TextFolder, LookAlikesShareTheirSkeleton) {
    const std::string scam = skeleton("scam");
    EXPECT_EQ(skeleton("\u0455\u0441\u0430m"), scam) << "Cyrillic dze, es, a";
    EXPECT_EQ(skeleton("ｓｃａｍ"), scam);
    EXPECT_EQ(skeleton("SC\u200BAM"), scam);
    EXPECT_EQ(skeleton("scarn"), scam) << "rn looks like m: TR39 says so";
    EXPECT_EQ(skeleton("CRÉDIT"), skeleton("crédit"));
    EXPECT_NE(skeleton("credit"), skeleton("crédit")) << "an accent is no look-alike";
    EXPECT_NE(skeleton("scan"), scam);
    EXPECT_EQ(skeleton("\u04BBttps://"), skeleton("https://")) << "Cyrillic shha";
    EXPECT_EQ(skeleton("\u051D\u051D\u051D."), skeleton("www.")) << "Cyrillic we";
}

TEST(TextFolder, SpansLeadEveryFoldedByteBackToItsSource) {
    const std::string source = "a CRÉ\u200BDIT!";
    const FoldedText folded = TextFolder::instance().foldWithSpans(source, TextForm::Normalized);
    ASSERT_EQ(folded.text, "a crédit!");
    ASSERT_EQ(folded.sourceFirst.size(), folded.text.size());
    ASSERT_EQ(folded.sourceLast.size(), folded.text.size());
    const auto word = folded.text.find("crédit");
    const auto end = word + std::string("crédit").size() - 1;
    EXPECT_EQ(
        source.substr(folded.sourceFirst[word], folded.sourceLast[end] - folded.sourceFirst[word]),
        "CRÉ\u200BDIT")
        << "the invisible character inside the word is part of its span";
    EXPECT_EQ(source.substr(folded.sourceFirst.back(), 1), "!");
    for (size_t i = 0; i < folded.text.size(); ++i) {
        EXPECT_LT(folded.sourceFirst[i], folded.sourceLast[i]) << i;
        EXPECT_LE(folded.sourceLast[i], source.size()) << i;
    }
    // A skeleton longer than its source (m -> rn) still maps back.
    const FoldedText longer = TextFolder::instance().foldWithSpans("am", TextForm::Skeleton);
    EXPECT_EQ(longer.text, "arn");
    EXPECT_EQ(longer.sourceFirst, (std::vector<uint32_t>{0, 1, 1}));
    EXPECT_EQ(longer.sourceLast, (std::vector<uint32_t>{1, 2, 2}));
}

TEST(TextFolder, RefusesWhatIsNotUtf8AndWhatIsTooLong) {
    EXPECT_THROW(normalized("bad \xC3"), std::invalid_argument);
    EXPECT_THROW(normalized("bad \xFF byte"), std::invalid_argument);
    EXPECT_THROW(normalized("\xED\xA0\x80"), std::invalid_argument) << "a surrogate";
    EXPECT_THROW(normalized(std::string(TextFolder::kMaxSourceBytes + 1, 'a')), std::length_error);
    EXPECT_EQ(normalized(std::string(TextFolder::kMaxSourceBytes, 'A')),
              std::string(TextFolder::kMaxSourceBytes, 'a'));
    EXPECT_EQ(normalized(""), "");
    EXPECT_EQ(normalized(std::string("a\0b", 3)), std::string("a\0b", 3)) << "NUL is a character";
}

}  // namespace
}  // namespace parley
