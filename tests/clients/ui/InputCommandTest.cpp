#include "InputCommand.h"

#include <gtest/gtest.h>

namespace parley::client::ui {
namespace {

using Kind = InputCommand::Kind;

TEST(InputCommand, TextIsAMessage) {
    EXPECT_EQ(InputCommand::parse("").kind, Kind::Empty);
    EXPECT_EQ(InputCommand::parse("   ").kind, Kind::Empty);
    const auto message = InputCommand::parse("hello /open");
    EXPECT_EQ(message.kind, Kind::Message);
    EXPECT_EQ(message.text, "hello /open");
    const auto slash = InputCommand::parse("//shrug");
    EXPECT_EQ(slash.kind, Kind::Message);
    EXPECT_EQ(slash.text, "/shrug");
}

TEST(InputCommand, OpenWithAndWithoutContext) {
    const auto plain = InputCommand::parse("/open bob");
    EXPECT_EQ(plain.kind, Kind::Open);
    EXPECT_EQ(plain.peer, "bob");
    EXPECT_TRUE(plain.contextType.empty());

    const auto listing = InputCommand::parse("/open  bob listing 42   Blue  bike ");
    EXPECT_EQ(listing.kind, Kind::Open);
    EXPECT_EQ(listing.peer, "bob");
    EXPECT_EQ(listing.contextType, "listing");
    EXPECT_EQ(listing.contextId, "42");
    EXPECT_EQ(listing.title, "Blue  bike");

    EXPECT_EQ(InputCommand::parse("/open").kind, Kind::Invalid);
    const auto noId = InputCommand::parse("/open bob listing");
    EXPECT_EQ(noId.kind, Kind::Invalid);
    EXPECT_NE(noId.error.find("<id>"), std::string::npos) << noId.error;
}

TEST(InputCommand, GroupNameHelpQuit) {
    const auto group = InputCommand::parse("/group alice,bob,,carol Climbing Saturday");
    EXPECT_EQ(group.kind, Kind::Group);
    EXPECT_EQ(group.members, (std::vector<std::string>{"alice", "bob", "carol"}));
    EXPECT_EQ(group.title, "Climbing Saturday");
    EXPECT_EQ(InputCommand::parse("/group").kind, Kind::Invalid);

    const auto name = InputCommand::parse("/name Alice Martin");
    EXPECT_EQ(name.kind, Kind::Name);
    EXPECT_EQ(name.title, "Alice Martin");
    EXPECT_EQ(InputCommand::parse("/name").title, "");

    EXPECT_EQ(InputCommand::parse("/help").kind, Kind::Help);
    EXPECT_EQ(InputCommand::parse("/quit").kind, Kind::Quit);
    EXPECT_EQ(InputCommand::parse("/q").kind, Kind::Quit);
    const auto unknown = InputCommand::parse("/frobnicate x");
    EXPECT_EQ(unknown.kind, Kind::Invalid);
    EXPECT_NE(unknown.error.find("/frobnicate"), std::string::npos);
}

}  // namespace
}  // namespace parley::client::ui
