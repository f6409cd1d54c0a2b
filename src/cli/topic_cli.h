// `walden topics init`, `walden topic …`, `walden group …` and `walden queue …`: thin,
// scriptable wrappers over the topics-and-queues SQL API (design §12). Input and output are
// JSON lines, so the commands compose with shell pipes (`walden topic consume a --group g |
// walden topic produce b --envelope`). Every call goes through the SQL functions, never
// around them; errors are the functions' own messages.
// Thread-safety: used once from main.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"

namespace walden::cli {

class TopicCli {
 public:
  // Adds the subcommands to `app`; `add_config` gives each the configuration flags.
  void Register(CLI::App& app, const std::function<void(CLI::App*)>& add_config);
  // The exit code when one of these subcommands was parsed, else nullopt.
  std::optional<int> Run(const Config& config);

 private:
  struct Parsed {
    CLI::App* app = nullptr;
    std::function<int(const Config&)> run;
  };
  CLI::App* Add(CLI::App* parent, const std::string& name, const std::string& help,
                int (TopicCli::*run)(const Config&));

  // topic_commands.cc
  int Init(const Config& config);
  int TopicCreate(const Config& config);
  int TopicList(const Config& config);
  int TopicDescribe(const Config& config);
  int TopicProduce(const Config& config);
  int TopicConsume(const Config& config);
  int TopicDrop(const Config& config);
  int GroupList(const Config& config);
  int GroupLag(const Config& config);
  int GroupSeek(const Config& config);
  // queue_commands.cc
  int QueueCreate(const Config& config);
  int QueueEnqueue(const Config& config);
  int QueueDequeue(const Config& config);
  int QueueAck(const Config& config);
  int QueueList(const Config& config);

  std::function<void(CLI::App*)> add_config_;
  std::vector<Parsed> commands_;
  // Arguments of whichever command runs.
  std::string name_, group_, start_ = "earliest", retention_ = "7 days",
                             partition_interval_ = "1 hour", visibility_ = "30 seconds",
                             delay_ = "0", to_;
  std::optional<std::string> visibility_override_;
  std::optional<int> partition_;
  std::optional<int64_t> offset_;
  std::vector<int64_t> ids_;
  int partitions_ = 1, max_attempts_ = 5, max_ = 100, batch_ = 100;
  bool envelope_ = false, follow_ = false, force_ = false;
};

}  // namespace walden::cli
