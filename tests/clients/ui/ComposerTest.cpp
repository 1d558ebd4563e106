#include "Composer.h"

#include <gtest/gtest.h>

namespace parley::client::ui {
namespace {

TEST(Composer, EditsAroundTheCursor) {
    Composer composer;
    composer.insert(L"hllo");
    composer.home();
    composer.right();
    composer.insert(L'e');
    EXPECT_EQ(composer.text(), L"hello");
    EXPECT_EQ(composer.cursor(), 2U);
    composer.end();
    composer.backspace();
    EXPECT_EQ(composer.text(), L"hell");
    composer.home();
    composer.deleteForward();
    EXPECT_EQ(composer.text(), L"ell");
    composer.left();  // already at the start
    EXPECT_EQ(composer.cursor(), 0U);
}

TEST(Composer, DeletesWordsAndLineParts) {
    Composer composer;
    composer.insert(L"send this  now");
    composer.deleteWordBackward();
    EXPECT_EQ(composer.text(), L"send this  ");
    composer.deleteWordBackward();
    EXPECT_EQ(composer.text(), L"send ");
    composer.home();
    composer.right();
    composer.deleteToEnd();
    EXPECT_EQ(composer.text(), L"s");
    composer.insert(L"abc");
    composer.left();
    composer.deleteToStart();
    EXPECT_EQ(composer.text(), L"c");
    EXPECT_EQ(composer.cursor(), 0U);
}

TEST(Composer, KeepsUtf8WholeAndTheCursorVisible) {
    Composer composer;
    composer.insert(L"çà 你好");
    EXPECT_EQ(composer.utf8(), "çà 你好");
    const auto whole = composer.view(20);
    EXPECT_EQ(whole.text, L"çà 你好");
    EXPECT_EQ(whole.cursorColumn, 7);

    composer.clear();
    composer.insert(L"0123456789abcdef");
    const auto scrolled = composer.view(10);
    EXPECT_EQ(scrolled.cursorColumn, 9);
    EXPECT_EQ(scrolled.text, L"789abcdef");
    composer.home();
    EXPECT_EQ(composer.view(10).text, L"0123456789");
    EXPECT_EQ(composer.view(10).cursorColumn, 0);
}

}  // namespace
}  // namespace parley::client::ui
