#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace parley {

// How far text is folded before it is compared.
enum class TextForm {
    // NFKC, full Unicode case folding, default-ignorable code points (zero-width space and
    // joiners, soft hyphen, ...) removed: ICU's NFKC_Casefold. "ＣＲÉＤＩＴ" and "cré\u200Bdit"
    // both give "crédit".
    Normalized,
    // The Unicode TR39 confusables skeleton of the normalized text: strings that look alike
    // share it (Cyrillic "ѕсаm" and "scam" both give "scarn"). Only for comparing: a skeleton is
    // no text to show anyone.
    Skeleton,
};

// Folded text, and where each of its bytes came from: byte i of `text` was made from the bytes
// [sourceFirst[i], sourceLast[i]) of the source (0-based, end excluded), so a match found in the
// folded text can be replaced in the original.
struct FoldedText {
    std::string text;
    std::vector<uint32_t> sourceFirst;
    std::vector<uint32_t> sourceLast;
};

// Folds UTF-8 text with ICU, for filters that must not be walked around by capitals, accents,
// full-width forms, invisible characters or look-alike letters. Thread-safe (ICU's normalizer
// and spoof checker are used read-only).
//
// The text is folded in pieces that start where NFKC_Casefold has a boundary (a character that
// nothing before it combines with), so every byte of the result belongs to one piece of the
// source. Folding a whole string and folding it piece by piece agree for everything but exotic
// sequences; the same function folds both sides of a comparison, so they are consistent.
class TextFolder {
  public:
    // Loads ICU's data once; throws std::runtime_error if ICU cannot provide it.
    static const TextFolder& instance();

    // Throws std::invalid_argument if `source` is not valid UTF-8, std::length_error if it is
    // longer than kMaxSourceBytes.
    std::string fold(std::string_view source, TextForm form) const;
    FoldedText foldWithSpans(std::string_view source, TextForm form) const;

    // Folding is linear in the input but not cheap per character outside ASCII (an ICU call per
    // piece): 1 MiB is what parleyd hands out elsewhere (a key-value value, a JSON text).
    static constexpr size_t kMaxSourceBytes = 1024 * 1024;

    TextFolder(const TextFolder&) = delete;
    TextFolder& operator=(const TextFolder&) = delete;

  private:
    TextFolder();
    ~TextFolder();
    template <typename Sink>
    void run(std::string_view source, TextForm form, Sink&& sink) const;
    void foldPiece(std::string_view piece, TextForm form, std::string& out) const;

    struct Icu;
    std::unique_ptr<const Icu> icu_;
    // Every ASCII character folded alone, per form: most text is ASCII, and its pieces are then
    // one table look-up instead of an ICU call.
    std::string ascii_[2][128];
};

}  // namespace parley
