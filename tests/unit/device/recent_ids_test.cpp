#include "device/recent_ids.hpp"

#include <doctest/doctest.h>

using azhub::device::RecentIds;

TEST_CASE("device::RecentIds") {
  RecentIds ids(2);
  CHECK(ids.insert("a"));
  CHECK_FALSE(ids.insert("a"));  // redelivery
  CHECK(ids.insert("b"));
  CHECK(ids.insert("c"));        // forgets "a"
  CHECK(ids.size() == 2);
  CHECK_FALSE(ids.contains("a"));
  CHECK(ids.insert("a"));
  CHECK_FALSE(ids.insert("c"));
}
