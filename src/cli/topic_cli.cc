#include "cli/topic_cli.h"

namespace walden::cli {

CLI::App* TopicCli::Add(CLI::App* parent, const std::string& name, const std::string& help,
                        int (TopicCli::*run)(const Config&)) {
  CLI::App* sub = parent->add_subcommand(name, help);
  add_config_(sub);
  commands_.push_back({sub, [this, run](const Config& config) { return (this->*run)(config); }});
  return sub;
}

void TopicCli::Register(CLI::App& app, const std::function<void(CLI::App*)>& add_config) {
  add_config_ = add_config;
  CLI::App* topics = app.add_subcommand("topics", "Install the topics-and-queues SQL API");
  topics->require_subcommand(1);
  Add(topics, "init",
      "Install or upgrade the SQL API (schema walden) in the source database; idempotent",
      &TopicCli::Init);

  CLI::App* topic = app.add_subcommand("topic", "Topics: durable, partitioned, replayable logs");
  topic->require_subcommand(1);
  CLI::App* create = Add(topic, "create", "Create a topic", &TopicCli::TopicCreate);
  create->add_option("name", name_, "Topic name")->required();
  create->add_option("--partitions", partitions_, "Partitions (1 to 1024)");
  create->add_option("--retention", retention_, "How long messages stay in PostgreSQL");
  create->add_option("--partition-interval", partition_interval_,
                     "Time span of one table partition");
  Add(topic, "list", "Every topic as a JSON line", &TopicCli::TopicList);
  Add(topic, "describe", "A topic's partitions, time partitions and groups as JSON",
      &TopicCli::TopicDescribe)
      ->add_option("name", name_, "Topic name")
      ->required();
  CLI::App* produce = Add(topic, "produce",
                          "Produce each JSON line of stdin as a message, all in one transaction; "
                          "prints the partition and offset of each",
                          &TopicCli::TopicProduce);
  produce->add_option("name", name_, "Topic name")->required();
  produce->add_flag("--envelope", envelope_,
                    "Lines are {\"value\": …, \"key\": …, \"headers\": {…}} (what consume prints)");
  CLI::App* consume = Add(topic, "consume",
                          "Print messages for a consumer group as JSON lines; each batch is "
                          "committed after it is printed (at least once)",
                          &TopicCli::TopicConsume);
  consume->add_option("name", name_, "Topic name")->required();
  consume->add_option("--group", group_, "Consumer group")->required();
  consume->add_option("--max", max_, "Stop after this many messages")->check(CLI::PositiveNumber);
  consume->add_option("--batch", batch_, "Messages per transaction")->check(CLI::PositiveNumber);
  consume->add_flag("--follow", follow_, "Wait for new messages until Ctrl-C (no --max limit)");
  CLI::App* drop = Add(topic, "drop", "Drop a topic and its messages in PostgreSQL",
                       &TopicCli::TopicDrop);
  drop->add_option("name", name_, "Topic name")->required();
  drop->add_flag("--force", force_, "Also when consumer groups read it (they are dropped)");

  CLI::App* group = app.add_subcommand("group", "Consumer groups: offsets and lag");
  group->require_subcommand(1);
  Add(group, "list", "Every group with its total lag, as JSON lines", &TopicCli::GroupList)
      ->add_option("--topic", name_, "Only this topic's groups");
  CLI::App* lag = Add(group, "lag", "A group's offset and lag per partition, as JSON lines",
                      &TopicCli::GroupLag);
  lag->add_option("topic", name_, "Topic name")->required();
  lag->add_option("group", group_, "Consumer group")->required();
  CLI::App* seek = Add(group, "seek", "Move a group's committed offset", &TopicCli::GroupSeek);
  seek->add_option("topic", name_, "Topic name")->required();
  seek->add_option("group", group_, "Consumer group")->required();
  seek->add_option("--partition", partition_, "Partition (with --offset)");
  seek->add_option("--offset", offset_, "Next offset the group reads (with --partition)");
  seek->add_option("--to", to_, "earliest or latest: every partition")
      ->check(CLI::IsMember({"earliest", "latest"}));

  CLI::App* queue = app.add_subcommand("queue", "Work queues: jobs handed to one worker each");
  queue->require_subcommand(1);
  CLI::App* qcreate = Add(queue, "create", "Create a queue", &TopicCli::QueueCreate);
  qcreate->add_option("name", name_, "Queue name")->required();
  qcreate->add_option("--visibility-timeout", visibility_,
                      "How long a dequeued job stays hidden before it is handed out again");
  qcreate->add_option("--max-attempts", max_attempts_,
                      "Deliveries before a job goes to the dead letters");
  CLI::App* enqueue = Add(queue, "enqueue",
                          "Enqueue each JSON line of stdin as a job, all in one transaction; "
                          "prints each job's id",
                          &TopicCli::QueueEnqueue);
  enqueue->add_option("name", name_, "Queue name")->required();
  enqueue->add_option("--delay", delay_, "Hide the jobs this long first");
  CLI::App* dequeue =
      Add(queue, "dequeue", "Take visible jobs, as JSON lines", &TopicCli::QueueDequeue);
  dequeue->add_option("name", name_, "Queue name")->required();
  dequeue->add_option("--max", max_, "At most this many jobs")->check(CLI::PositiveNumber);
  dequeue->add_option("--visibility-timeout", visibility_override_,
                      "Hide them this long (default: the queue's)");
  CLI::App* ack = Add(queue, "ack", "Delete finished jobs", &TopicCli::QueueAck);
  ack->add_option("name", name_, "Queue name")->required();
  ack->add_option("ids", ids_, "Job ids")->required();
  Add(queue, "list", "Every queue with its ready, hidden and dead jobs, as JSON lines",
      &TopicCli::QueueList);
}

std::optional<int> TopicCli::Run(const Config& config) {
  for (const Parsed& command : commands_) {
    if (command.app->parsed()) return command.run(config);
  }
  return std::nullopt;
}

}  // namespace walden::cli
