#include "TextLayout.h"

#include <gtest/gtest.h>

namespace parley::client::ui {
namespace {

TEST(TextLayout, DecodesUtf8AndRoundTrips) {
    const std::string text = "Grüße, ça va? 你好 👋";
    const std::wstring wide = toWide(text);
    EXPECT_EQ(wide.size(), 18U);
    EXPECT_EQ(toUtf8(wide), text);
}

TEST(TextLayout, InvalidBytesAndControlsBecomeVisible) {
    EXPECT_EQ(toWide("a\xFF"
                     "b"),
              L"a\uFFFDb");
    EXPECT_EQ(toWide("\xC3"), L"\uFFFD") << "truncated sequence";
    EXPECT_EQ(toWide("\xC0\xAF"), L"\uFFFD\uFFFD") << "overlong '/'";
    EXPECT_EQ(toWide("\xED\xA0\x80"), L"\uFFFD\uFFFD\uFFFD") << "surrogate";
    EXPECT_EQ(toWide("a\x1B[2Jb"), L"a\uFFFD[2Jb") << "no escape sequence reaches the terminal";
    EXPECT_EQ(toWide("a\tb\nc"), L"a b\nc");
}

TEST(TextLayout, ColumnsCountWideAndCombiningCharacters) {
    EXPECT_EQ(columnsOf(L"abc"), 3);
    EXPECT_EQ(columnsOf(L"你好"), 4);
    EXPECT_EQ(columnsOf(L"e\u0301"), 1) << "combining acute accent takes no column";
    EXPECT_EQ(fitToColumns(L"你好吗", 5), L"你好") << "a wide character is never cut in half";
    EXPECT_EQ(padToColumns(L"ab", 4), L"ab  ");
    EXPECT_EQ(ellipsize(L"Blue bike", 9), L"Blue bike");
    EXPECT_EQ(ellipsize(L"Blue bike", 6), L"Blue …");
    EXPECT_EQ(ellipsize(L"你好你好", 4), L"你…");
}

TEST(TextLayout, WrapsAtSpacesThenHard) {
    EXPECT_EQ(wrap(L"the quick brown fox", 10),
              (std::vector<std::wstring>{L"the quick", L"brown fox"}));
    EXPECT_EQ(wrap(L"abcdefghij", 4), (std::vector<std::wstring>{L"abcd", L"efgh", L"ij"}));
    EXPECT_EQ(wrap(L"one\ntwo", 10), (std::vector<std::wstring>{L"one", L"two"}));
    EXPECT_EQ(wrap(L"", 10), (std::vector<std::wstring>{L""}));
    EXPECT_EQ(wrap(L"你好你好", 5), (std::vector<std::wstring>{L"你好", L"你好"}));
    EXPECT_EQ(wrap(L"ab", 0), (std::vector<std::wstring>{L"a", L"b"}));
}

}  // namespace
}  // namespace parley::client::ui
