#include "common/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace walden {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  // CTest runs test cases in parallel processes: each gets its own directory.
  std::string Dir() const {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    const std::string dir = ::testing::TempDir() + "/" + info->name() + "/";
    std::filesystem::create_directories(dir);
    return dir;
  }

  std::string WriteFile(const std::string& text) {
    const std::string path = Dir() + "walden-config-test.toml";
    std::ofstream(path) << text;
    return path;
  }

  Result<Config> Load(const std::string& toml, std::map<std::string, std::string> env = {},
                      std::map<std::string, std::string> flags = {}) {
    return LoadConfig(ConfigSources{WriteFile(toml), std::move(env), std::move(flags)});
  }

  std::string LoadError(const std::string& toml, std::map<std::string, std::string> env = {},
                        std::map<std::string, std::string> flags = {}) {
    auto config = Load(toml, std::move(env), std::move(flags));
    EXPECT_FALSE(config);
    if (config) return "";
    EXPECT_EQ(config.error().kind, ErrorKind::kConfig);
    // Messages name the temp file; tests compare from the file name on.
    std::string message = config.error().message;
    const std::string dir = Dir();
    for (size_t at; (at = message.find(dir)) != std::string::npos;) message.erase(at, dir.size());
    return message;
  }
};

TEST_F(ConfigTest, DefaultsAndDesignKeys) {
  auto config = Load(R"(
data_dir = "/var/lib/walden"
[source]
url = "postgresql://walden@db:5432/shop"
slot = "walden"
publication = "walden"
tables = ["public.orders", "sales.*", '"Weird Schema"."Select"']
[archive]
url = "s3://bucket/prefix"
[mirror]
path = "/var/lib/walden/mirror.duckdb"
[server]
listen = "127.0.0.1:8080"
)");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->source.tables.size(), 3u);
  EXPECT_EQ(config->source.tables[2], (TableSelector{"Weird Schema", "Select"}));
  EXPECT_EQ(config->archive.url, "s3://bucket/prefix");
  EXPECT_EQ(config->mirror.apply_interval, std::chrono::milliseconds(50));
  EXPECT_EQ(config->archive.flush_interval, std::chrono::seconds(10));
  EXPECT_EQ(config->archive.flush_size, 64 << 20);
  EXPECT_EQ(config->snapshot.workers, 2);
  EXPECT_EQ(config->snapshot.mode, SnapshotMode::kInitial);
  EXPECT_TRUE(config->warnings.empty());
}

TEST_F(ConfigTest, DerivedPathsFollowDataDir) {
  auto config = Load("data_dir = \"/srv/w\"\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->archive.url, "file:///srv/w/archive");
  EXPECT_EQ(config->mirror.path, "/srv/w/mirror.duckdb");
  auto plain = Load("[archive]\nurl = \"/data/arch/\"\n");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->archive.url, "file:///data/arch/");
}

TEST_F(ConfigTest, EnvironmentOverridesFileAndFlagsOverrideEnvironment) {
  const std::string toml = "[source]\nslot = \"from_file\"\n";
  EXPECT_EQ(Load(toml)->source.slot, "from_file");
  EXPECT_EQ(Load(toml, {{"WALDEN_SOURCE_SLOT", "from_env"}})->source.slot, "from_env");
  EXPECT_EQ(
      Load(toml, {{"WALDEN_SOURCE_SLOT", "from_env"}}, {{"source.slot", "from_flag"}})->source.slot,
      "from_flag");
  auto listed = Load("", {{"WALDEN_SOURCE_TABLES", R"(public.a, "x,y".b)"}});
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->source.tables, (std::vector<TableSelector>{{"public", "a"}, {"x,y", "b"}}));
  EXPECT_EQ(Load("", {{"WALDEN_SOURCE_FAILOVER", "yes"}})->source.failover, true);
}

TEST_F(ConfigTest, UnknownKeysSuggestTheClosest) {
  EXPECT_EQ(LoadError("[source]\nslott = \"x\"\n"),
            "config: unknown key \"source.slott\" (walden-config-test.toml:2); did you mean "
            "\"source.slot\"?");
  EXPECT_EQ(LoadError("[sourc]\nurl = \"x\"\n"),
            "config: unknown section \"sourc\" (walden-config-test.toml:1); did you mean "
            "\"source\"?");
  EXPECT_EQ(LoadError("zzz_unrelated_thing = 1\n"),
            "config: unknown key \"zzz_unrelated_thing\" (walden-config-test.toml:1); see "
            "walden.example.toml for every key");
  EXPECT_EQ(LoadError("", {{"WALDEN_SOURCE_ULR", "x"}}),
            "config: unknown environment variable \"WALDEN_SOURCE_ULR\" (environment); did you "
            "mean \"WALDEN_SOURCE_URL\"?");
}

TEST_F(ConfigTest, UnrelatedWaldenVariablesAreIgnored) {
  EXPECT_TRUE(Load("", {{"WALDEN_PG_BIN", "/usr/lib/postgresql/17/bin"}}));
}

TEST_F(ConfigTest, InvalidTomlNamesLineAndColumn) {
  EXPECT_EQ(LoadError("[source]\nslot = \n"),
            "config: walden-config-test.toml:2:8: invalid TOML: Error while parsing key-value "
            "pair: expected value, saw '\\n'");
}

TEST_F(ConfigTest, ValueErrorsNameKeyValueOriginAndExpectation) {
  EXPECT_EQ(LoadError("[archive]\nflush_interval = \"10 sec\"\n"),
            "config: archive.flush_interval = \"10 sec\" (walden-config-test.toml:2): expected "
            "a positive duration: a whole number followed by a unit (us, ms, s, m, h or d), "
            "e.g. \"100ms\" or \"10s\"");
  EXPECT_EQ(LoadError("[archive]\nflush_interval = 10\n"),
            "config: archive.flush_interval = \"10\" (walden-config-test.toml:2): expected a "
            "positive duration: a string with a unit such as \"10s\" (a bare number has no "
            "unit)");
  EXPECT_EQ(LoadError("", {{"WALDEN_ARCHIVE_FLUSH_SIZE", "lots"}}),
            "config: archive.flush_size = \"lots\" (environment variable "
            "WALDEN_ARCHIVE_FLUSH_SIZE): expected a positive size: a whole number followed by a "
            "unit (B, kB, MB, GB or TB), e.g. \"64MB\"");
  EXPECT_EQ(LoadError("", {}, {{"snapshot.workers", "0"}}),
            "config: snapshot.workers = \"0\" (flag --snapshot-workers): expected a whole number "
            "from 1 to 64");
  EXPECT_EQ(LoadError("", {{"WALDEN_ARCHIVE_SPOOL_MEMORY_LIMIT", "32MB"}}),
            "config: archive.spool_memory_limit = \"32MB\" (environment variable "
            "WALDEN_ARCHIVE_SPOOL_MEMORY_LIMIT): expected at least 128MB");
  EXPECT_EQ(LoadError("[snapshot]\nmode = \"sometimes\"\n"),
            "config: snapshot.mode = \"sometimes\" (walden-config-test.toml:2): expected one of "
            "initial, online, never");
  EXPECT_EQ(LoadError("[source]\nfailover = \"maybe\"\n"),
            "config: source.failover = \"maybe\" (walden-config-test.toml:2): expected true or "
            "false");
  EXPECT_EQ(LoadError("[source]\ntables = \"public.orders\"\n"),
            "config: source.tables = \"public.orders\" (walden-config-test.toml:2): expected an "
            "array of strings, e.g. [\"public.orders\"]");
  EXPECT_EQ(LoadError("[source]\ntables = [1]\n"),
            "config: source.tables (walden-config-test.toml:2): every element must be a string");
  EXPECT_EQ(LoadError("[source]\nslot = \"My-Slot\"\n"),
            "config: source.slot = \"My-Slot\" (walden-config-test.toml:2): expected 1 to 63 "
            "lower-case letters, digits or underscores (PostgreSQL's rule for slot names)");
  EXPECT_EQ(LoadError("[server]\nlisten = \"localhost\"\n"),
            "config: server.listen = \"localhost\" (walden-config-test.toml:2): expected "
            "host:port, e.g. 127.0.0.1:8080");
  EXPECT_EQ(LoadError("[archive]\nurl = \"gs://bucket\"\n"),
            "config: archive.url = \"gs://bucket\" (walden-config-test.toml:2): expected "
            "file:///path or s3://bucket/prefix");
  EXPECT_EQ(LoadError("[archive]\nurl = \"s3://AB\"\n"),
            "config: archive.url = \"s3://AB\" (walden-config-test.toml:2): expected "
            "s3://bucket/prefix with a bucket name of 3 to 63 lower-case letters, digits, dots "
            "or hyphens");
  EXPECT_EQ(LoadError("[source]\ntables = [\"a.b.c\"]\n"),
            "config: source.tables = \"[a.b.c]\" (walden-config-test.toml:2): table selector "
            "'a.b.c': too many dots (quote names that contain dots); expected schema.table, "
            "schema.* or a quoted name such as \"My Schema\".\"My Table\"");
}

TEST_F(ConfigTest, SecretsNeverAppear) {
  const std::string s3 = LoadError("[archive]\nurl = \"s3://AKIA:topsecret@bucket/p\"\n");
  EXPECT_EQ(s3,
            "config: archive.url = \"s3://***\" (walden-config-test.toml:2): credentials "
            "do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "instead");
  auto config = Load("", {{"WALDEN_SOURCE_URL", "postgresql://u:hunter2@h/d"}});
  ASSERT_TRUE(config);
  EXPECT_EQ(config->warnings.size(), 1u);
  EXPECT_EQ(config->ToToml().find("hunter2"), std::string::npos);
  EXPECT_NE(config->ToToml().find("postgresql://u:***@h/d"), std::string::npos);
  EXPECT_EQ(LoadError("[source]\nurl = 5\nslot = \"Bad\"\n",
                      {{"WALDEN_SOURCE_URL", "host=h password=hunter2"}}),
            "config: source.slot = \"Bad\" (walden-config-test.toml:3): expected 1 to 63 "
            "lower-case letters, digits or underscores (PostgreSQL's rule for slot names)");
}

TEST_F(ConfigTest, MissingFileIsAClearError) {
  auto config = LoadConfig(ConfigSources{"/nonexistent/walden.toml", {}, {}});
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().message,
            "config: cannot read /nonexistent/walden.toml: No such file or directory; pass an "
            "existing file with --config");
}

TEST_F(ConfigTest, ExampleFileIsValidAndComplete) {
  const std::string example = ExampleToml();
  auto config = Load(example);
  ASSERT_TRUE(config) << config.error().message;
  for (const ConfigKey& key : ConfigKeys()) {
    EXPECT_NE(example.find(key.EnvName()), std::string::npos) << key.path;
  }
  auto round_trip = Load(config->ToToml());
  ASSERT_TRUE(round_trip) << round_trip.error().message;
  EXPECT_EQ(round_trip->ToToml(), config->ToToml());
}

}  // namespace
}  // namespace walden
