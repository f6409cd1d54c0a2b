#include "feed/hub.h"

#include <gtest/gtest.h>

#include <thread>

namespace walden::feed {
namespace {

using namespace std::chrono_literals;

const QualifiedName kTable{"public", "t"};

// One transaction at `lsn` with one event of kTable.
void PublishOne(FeedHub& hub, uint64_t lsn, int64_t seq, std::string data = "{}") {
  hub.Publish(lsn, {{kTable, Event{.id = {lsn, seq}, .data = std::move(data)}}});
}

std::vector<std::string> Ids(FeedClient& client) {
  std::vector<std::string> ids;
  for (const auto& event : client.Next(10ms)) ids.push_back(event->id.ToString());
  return ids;
}

TEST(FeedHub, ClientsGetEveryLaterEventOnceAndResumeFromTheRing) {
  FeedHub hub;
  hub.Start(0x10);
  auto live = hub.Subscribe(kTable, std::nullopt, nullptr);
  ASSERT_TRUE(live);
  EXPECT_TRUE(hub.Watched().contains(kTable));
  EXPECT_FALSE(hub.Watched().contains({"public", "other"}));
  hub.Publish(0x20, {{kTable, Event{.id = {0x20, 0}, .data = "{}"}},
                     {kTable, Event{.id = {0x20, 1}, .data = "{}"}}});
  PublishOne(hub, 0x20, 1);  // replayed after a restart: kept once
  hub.Publish(0x30, {{{"public", "other"}, Event{.id = {0x30, 0}, .data = "{}"}}});
  PublishOne(hub, 0x40, 0);
  EXPECT_EQ(Ids(**live), (std::vector<std::string>{"0000000000000020-0", "0000000000000020-1",
                                                   "0000000000000040-0"}));
  Resume resume;
  auto resumed = hub.Subscribe(kTable, EventId{0x20, 0}, &resume);
  EXPECT_FALSE(resume.missing);
  EXPECT_EQ(Ids(**resumed), (std::vector<std::string>{"0000000000000020-1", "0000000000000040-0"}));
  // Older than what this run replayed from: the hub says what it cannot give.
  auto old = hub.Subscribe(kTable, EventId{0x5, 0}, &resume);
  ASSERT_TRUE(resume.missing);
  EXPECT_EQ(resume.missing->first, (EventId{0x5, 0}));
  EXPECT_EQ(hub.clients(), 3);
  live->reset();
  EXPECT_EQ(hub.clients(), 2);
  // A stream first watched now holds what comes from now on.
  auto other = hub.Subscribe({"public", "other"}, EventId{0x50, 0}, &resume);
  EXPECT_FALSE(resume.missing);
  resume = {};
  auto older = hub.Subscribe({"public", "other"}, EventId{0x30, 0}, &resume);
  ASSERT_TRUE(resume.missing);
  EXPECT_EQ(resume.missing->second, (EventId{0x40, INT64_MAX}));
}

TEST(FeedHub, AStreamNobodyWatchesIsForgotten) {
  FeedHub hub({.watch_for = std::chrono::seconds(0)});
  hub.Start(0);
  {
    auto client = hub.Subscribe(kTable, std::nullopt, nullptr);
    PublishOne(hub, 1, 0);
    EXPECT_TRUE(hub.Watched().contains(kTable));
  }
  EXPECT_FALSE(hub.Watched().contains(kTable));
  PublishOne(hub, 2, 0);
  Resume resume;
  auto later = hub.Subscribe(kTable, EventId{1, 0}, &resume);
  ASSERT_TRUE(resume.missing);
  EXPECT_TRUE(Ids(**later).empty());
}

TEST(FeedHub, ARingPastItsSizeSaysWhatItNoLongerHolds) {
  FeedHub hub({.ring_bytes = 100});
  hub.Start(0);
  auto watching = hub.Subscribe(kTable, std::nullopt, nullptr);
  for (uint64_t lsn = 1; lsn <= 10; ++lsn) PublishOne(hub, lsn, 0, std::string(30, 'x'));
  Resume resume;
  auto client = hub.Subscribe(kTable, EventId{2, 0}, &resume);
  ASSERT_TRUE(resume.missing);
  EXPECT_EQ(resume.missing->second, (EventId{7, 0}));  // 8, 9, 10 are kept
  EXPECT_EQ(Ids(**client), (std::vector<std::string>{"0000000000000008-0", "0000000000000009-0",
                                                     "000000000000000A-0"}));
}

TEST(FeedHub, AClientWhoseNextEventLeftTheRingIsDropped) {
  FeedHub hub({.ring_bytes = 1000});
  hub.Start(0);
  auto slow = hub.Subscribe(kTable, std::nullopt, nullptr);
  auto fast = hub.Subscribe(kTable, std::nullopt, nullptr);
  size_t fast_got = 0;
  for (uint64_t lsn = 1; lsn <= 100; ++lsn) {
    PublishOne(hub, lsn, 0, std::string(100, 'x'));
    fast_got += (*fast)->Next(0ms).size();
  }
  EXPECT_EQ(fast_got, 100u);
  EXPECT_EQ((*fast)->state(), FeedClient::State::kLive);
  EXPECT_EQ((*slow)->state(), FeedClient::State::kDropped);
  EXPECT_TRUE((*slow)->Next(0ms).empty());
  EXPECT_EQ(hub.dropped_total(), 1u);
  slow->reset();
  EXPECT_EQ(hub.clients(), 1);
}

TEST(FeedHub, OneNextHandsOutAtMostABatch) {
  FeedHub hub({.batch_bytes = 250});
  hub.Start(0);
  auto client = hub.Subscribe(kTable, std::nullopt, nullptr);
  for (uint64_t lsn = 1; lsn <= 5; ++lsn) PublishOne(hub, lsn, 0, std::string(100, 'x'));
  EXPECT_EQ((*client)->Next(0ms).size(), 3u);
  EXPECT_EQ((*client)->Next(0ms).size(), 2u);
  EXPECT_EQ((*client)->Next(0ms).size(), 0u);
}

TEST(FeedHub, ClientsAreLimitedAndOutliveTheHub) {
  auto hub = std::make_unique<FeedHub>(FeedLimits{.max_clients = 2});
  auto a = hub->Subscribe(kTable, std::nullopt, nullptr);
  auto b = hub->Subscribe(kTable, std::nullopt, nullptr);
  auto c = hub->Subscribe(kTable, std::nullopt, nullptr);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().message,
            "walden: 2 feed clients are connected (server.max_feed_clients); try again later");
  std::thread waiter([&] { EXPECT_TRUE((*a)->Next(10s).empty()); });
  hub.reset();  // wakes the waiting client
  waiter.join();
  EXPECT_EQ((*a)->state(), FeedClient::State::kClosed);
}

}  // namespace
}  // namespace walden::feed
