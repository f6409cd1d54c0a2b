#include "console/console.h"

#include <gtest/gtest.h>

namespace walden::console {
namespace {

TEST(Console, TheBundledFilesAreBuiltIn) {
  EXPECT_TRUE(IndexHtml().starts_with("<!doctype html>"));
  EXPECT_NE(IndexHtml().find("/console/app.js"), std::string_view::npos);
  EXPECT_GT(AppJs().size(), 100000u);  // CodeMirror, uPlot, d3-geo and the US outline
  EXPECT_NE(AppCss().find(".uplot"), std::string_view::npos);
  const auto routes = ConsoleRoutes();
  ASSERT_EQ(routes.size(), 3u);
  for (const server::Route& route : routes) {
    const server::Response response = route.handler({});
    EXPECT_EQ(response.status, 200) << route.path;
    EXPECT_EQ(response.headers.at("Content-Security-Policy").substr(0, 19), "default-src 'self';");
    EXPECT_TRUE(route.open);
  }
}

}  // namespace
}  // namespace walden::console
