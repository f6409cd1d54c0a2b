-- walden topics, consumer groups and work queues: schema version 1 (design §12).
-- Applied by `walden topics init` inside one transaction; never edit a released version,
-- add the next numbered file instead (upgrades apply every newer file in order).

CREATE SCHEMA walden;
CREATE SCHEMA walden_topics;
CREATE SCHEMA walden_queues;

CREATE TABLE walden.schema_version (
  one boolean PRIMARY KEY DEFAULT true CHECK (one),
  version int NOT NULL,
  installed_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE walden.topics (
  topic text PRIMARY KEY,
  partitions int NOT NULL,
  retention interval NOT NULL,
  partition_interval interval NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One counter row per (topic, partition): producers reserve offsets under its row lock, so
-- offset order is commit order and a rolled-back produce leaves no gap.
CREATE TABLE walden.topic_partitions (
  topic text NOT NULL REFERENCES walden.topics ON DELETE CASCADE,
  partition int NOT NULL,
  next_offset bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (topic, partition)
);

-- committed_offset is the next offset the group reads (Kafka's convention).
CREATE TABLE walden.group_offsets (
  topic text NOT NULL,
  group_name text NOT NULL,
  partition int NOT NULL,
  committed_offset bigint NOT NULL,
  PRIMARY KEY (topic, group_name, partition),
  FOREIGN KEY (topic, partition) REFERENCES walden.topic_partitions ON DELETE CASCADE
);

CREATE TABLE walden.queues (
  queue text PRIMARY KEY,
  visibility_timeout interval NOT NULL,
  max_attempts int NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE walden_queues.dead_letters (
  queue text NOT NULL,
  id bigint NOT NULL,
  payload jsonb NOT NULL,
  attempts int NOT NULL,
  enqueued_at timestamptz NOT NULL,
  died_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (queue, id)
);

-- Keyless messages of one call go to one partition, round robin over calls; a sequence
-- never blocks concurrent producers.
CREATE SEQUENCE walden.round_robin;

CREATE VIEW walden.group_lag AS
SELECT g.topic, g.group_name, g.partition, g.committed_offset, p.next_offset AS end_offset,
       p.next_offset - g.committed_offset AS lag
FROM walden.group_offsets g
JOIN walden.topic_partitions p ON p.topic = g.topic AND p.partition = g.partition;

-- ---------------------------------------------------------------------------------------
-- Checks. Every error starts with "walden: " and says how to fix it; SQLSTATE 22023
-- (invalid_parameter_value), 42602 (invalid_name) or 42704 (undefined_object).

CREATE FUNCTION walden._check_name(kind text, name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF name IS NULL OR name !~ '^[a-z][a-z0-9_]{0,47}$' THEN
    RAISE EXCEPTION 'walden: invalid % name %', kind, coalesce(quote_literal(name), 'NULL')
      USING ERRCODE = 'invalid_name',
            HINT = 'a ' || kind || ' name is 1 to 48 lowercase letters, digits or _, starting with a letter';
  END IF;
END $fn$;

CREATE FUNCTION walden._check_group(group_name text) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF group_name IS NULL OR group_name !~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$' THEN
    RAISE EXCEPTION 'walden: invalid group name %', coalesce(quote_literal(group_name), 'NULL')
      USING ERRCODE = 'invalid_name',
            HINT = 'a group name is 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit';
  END IF;
END $fn$;

CREATE FUNCTION walden._check_positive(what text, value bigint) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF value IS NULL OR value <= 0 THEN
    RAISE EXCEPTION 'walden: % must be at least 1, not %', what, coalesce(value::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
END $fn$;

CREATE FUNCTION walden._check_interval(what text, value interval, allow_zero boolean)
RETURNS void LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF value IS NULL OR value < interval '0' OR (NOT allow_zero AND value = interval '0') THEN
    RAISE EXCEPTION 'walden: % must be %, not %', what,
      CASE WHEN allow_zero THEN 'zero or positive' ELSE 'positive' END,
      coalesce(value::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
END $fn$;

CREATE FUNCTION walden._topic(topic text) RETURNS walden.topics
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  t walden.topics;
BEGIN
  PERFORM walden._check_name('topic', topic);
  SELECT * INTO t FROM walden.topics WHERE walden.topics.topic = _topic.topic;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'walden: unknown topic %', quote_literal(topic)
      USING ERRCODE = 'undefined_object',
            HINT = format('create it with SELECT walden.create_topic(%L)', topic);
  END IF;
  RETURN t;
END $fn$;

CREATE FUNCTION walden._queue(queue text) RETURNS walden.queues
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  q walden.queues;
BEGIN
  PERFORM walden._check_name('queue', queue);
  SELECT * INTO q FROM walden.queues WHERE walden.queues.queue = _queue.queue;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'walden: unknown queue %', quote_literal(queue)
      USING ERRCODE = 'undefined_object',
            HINT = format('create it with SELECT walden.create_queue(%L)', queue);
  END IF;
  RETURN q;
END $fn$;

CREATE FUNCTION walden._check_partition(t walden.topics, partition_no int) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
  IF partition_no IS NULL OR partition_no < 0 OR partition_no >= t.partitions THEN
    RAISE EXCEPTION 'walden: topic % has partitions 0 to %, not %', quote_literal(t.topic),
      t.partitions - 1, coalesce(partition_no::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
END $fn$;

-- ---------------------------------------------------------------------------------------
-- Time partitions of a topic's table: walden run creates them ahead; produce creates the
-- one it needs when walden is down. Named <topic>_p<epoch seconds of the lower bound>.

CREATE FUNCTION walden._partition_start(t walden.topics, at timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE AS $fn$
  SELECT date_bin(t.partition_interval, at, timestamptz '2000-01-01 00:00:00+00')
$fn$;

CREATE FUNCTION walden._create_partition(t walden.topics, lo timestamptz) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  name text := t.topic || '_p' || extract(epoch FROM lo)::bigint;
BEGIN
  -- Serializes creators of one topic's partitions; the loser finds the winner's table.
  PERFORM pg_advisory_xact_lock(hashtextextended('walden partition ' || t.topic, 0));
  IF to_regclass(format('walden_topics.%I', name)) IS NOT NULL THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE TABLE walden_topics.%I PARTITION OF walden_topics.%I '
                 'FOR VALUES FROM (%L) TO (%L)', name, t.topic, lo, lo + t.partition_interval);
END $fn$;

CREATE FUNCTION walden._ensure_partition(t walden.topics, at timestamptz) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  lo timestamptz := walden._partition_start(t, at);
BEGIN
  IF to_regclass(format('walden_topics.%I', t.topic || '_p' || extract(epoch FROM lo)::bigint))
     IS NULL THEN
    PERFORM walden._create_partition(t, lo);
  END IF;
END $fn$;

-- walden run: the partitions of every topic for now and the next `ahead` intervals, so
-- that produce never has to create one (and never takes the parent's lock for it).
CREATE FUNCTION walden._partitions_ahead(ahead int) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  t walden.topics;
BEGIN
  FOR t IN SELECT * FROM walden.topics ORDER BY topic LOOP
    FOR k IN 0..ahead LOOP
      PERFORM walden._ensure_partition(t, now() + k * t.partition_interval);
    END LOOP;
  END LOOP;
END $fn$;

-- walden run: each time partition whose upper bound is older than its topic's retention,
-- and whether it is sealed (no row can enter it any more).
CREATE VIEW walden.expired_partitions AS
SELECT t.topic, c.relname AS partition_table,
       to_timestamp(substring(c.relname FROM '_p([0-9]+)$')::bigint) + t.partition_interval
         AS upper_bound,
       EXISTS (SELECT 1 FROM pg_constraint k
               WHERE k.conrelid = c.oid AND k.conname = 'walden_sealed') AS sealed
FROM walden.topics t
JOIN pg_inherits i ON i.inhparent = format('walden_topics.%I', t.topic)::regclass
JOIN pg_class c ON c.oid = i.inhrelid
WHERE to_timestamp(substring(c.relname FROM '_p([0-9]+)$')::bigint) + t.partition_interval
      < now() - t.retention;

-- ---------------------------------------------------------------------------------------
-- Topics

CREATE FUNCTION walden.create_topic(topic text, partitions int DEFAULT 1,
                                    retention interval DEFAULT '7 days',
                                    partition_interval interval DEFAULT '1 hour')
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  existing walden.topics;
  t walden.topics;
BEGIN
  PERFORM walden._check_name('topic', topic);
  IF partitions IS NULL OR partitions < 1 OR partitions > 1024 THEN
    RAISE EXCEPTION 'walden: partitions must be 1 to 1024, not %', coalesce(partitions::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM walden._check_interval('retention', retention, false);
  PERFORM walden._check_interval('partition_interval', partition_interval, false);
  IF extract(year FROM partition_interval) <> 0 OR extract(month FROM partition_interval) <> 0 THEN
    RAISE EXCEPTION 'walden: partition_interval % has months; give it in days, hours or less',
      partition_interval USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT * INTO existing FROM walden.topics WHERE walden.topics.topic = create_topic.topic;
  IF FOUND THEN
    IF existing.partitions = create_topic.partitions AND existing.retention = create_topic.retention
       AND existing.partition_interval = create_topic.partition_interval THEN
      RETURN;  -- the same topic again: nothing to do
    END IF;
    RAISE EXCEPTION 'walden: topic % exists with % partitions, retention %, partition_interval %',
      quote_literal(topic), existing.partitions, existing.retention, existing.partition_interval
      USING ERRCODE = 'duplicate_object',
            HINT = 'drop it first (walden.drop_topic) or use another name';
  END IF;
  INSERT INTO walden.topics (topic, partitions, retention, partition_interval)
  VALUES (topic, partitions, retention, partition_interval) RETURNING * INTO t;
  INSERT INTO walden.topic_partitions (topic, partition)
  SELECT topic, p FROM generate_series(0, partitions - 1) AS p;
  EXECUTE format('CREATE TABLE walden_topics.%I (partition int NOT NULL, "offset" bigint NOT NULL, '
                 'key text, value jsonb NOT NULL, headers jsonb, '
                 'produced_at timestamptz NOT NULL DEFAULT now(), '
                 'PRIMARY KEY (partition, "offset", produced_at)) PARTITION BY RANGE (produced_at)',
                 topic);
  PERFORM walden._ensure_partition(t, now());
  PERFORM walden._ensure_partition(t, now() + partition_interval);
END $fn$;

CREATE FUNCTION walden.drop_topic(topic text, force boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
  t walden.topics := walden._topic(topic);
  groups text;
BEGIN
  SELECT string_agg(DISTINCT g.group_name, ', ' ORDER BY g.group_name) INTO groups
  FROM walden.group_offsets g WHERE g.topic = t.topic;
  IF groups IS NOT NULL AND NOT coalesce(force, false) THEN
    RAISE EXCEPTION 'walden: topic % has consumer groups (%)', quote_literal(t.topic), groups
      USING ERRCODE = 'dependent_objects_still_exist',
            HINT = format('SELECT walden.drop_topic(%L, force => true) drops it with its groups', t.topic);
  END IF;
  EXECUTE format('DROP TABLE walden_topics.%I', t.topic);
  DELETE FROM walden.topics WHERE walden.topics.topic = t.topic;
END $fn$;

CREATE FUNCTION walden.produce(topic text, "values" jsonb[], keys text[] DEFAULT NULL,
                               headers jsonb[] DEFAULT NULL)
RETURNS TABLE(partition int, "offset" bigint) LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  t walden.topics := walden._topic(produce.topic);
  n int := coalesce(cardinality(produce."values"), 0);
  rr int := 0;
  parts int[];
  offs bigint[];
BEGIN
  IF produce."values" IS NULL OR array_ndims(produce."values") > 1
     OR array_position(produce."values", NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'walden: values must be a one-dimensional array of JSON values without NULLs'
      USING ERRCODE = 'invalid_parameter_value',
            HINT = 'a JSON null is ''null''::jsonb';
  END IF;
  IF produce.keys IS NOT NULL AND (array_ndims(produce.keys) > 1 OR cardinality(produce.keys) <> n) THEN
    RAISE EXCEPTION 'walden: keys has % elements and values %; give one key per value, or keys => NULL',
      cardinality(produce.keys), n USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF produce.headers IS NOT NULL AND (array_ndims(produce.headers) > 1 OR cardinality(produce.headers) <> n) THEN
    RAISE EXCEPTION 'walden: headers has % elements and values %; give one per value, or headers => NULL',
      cardinality(produce.headers), n USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(produce.headers) h WHERE h IS NOT NULL AND jsonb_typeof(h) <> 'object') THEN
    RAISE EXCEPTION 'walden: each header must be a JSON object or NULL'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF n = 0 THEN
    RETURN;
  END IF;
  IF produce.keys IS NULL OR array_position(produce.keys, NULL) IS NOT NULL THEN
    rr := nextval('walden.round_robin') % t.partitions;
  END IF;
  SELECT array_agg(CASE WHEN k IS NULL THEN rr
                        ELSE ((hashtextextended(k, 0) % t.partitions + t.partitions) % t.partitions)::int
                   END ORDER BY o)
  INTO parts
  FROM unnest(produce."values", produce.keys) WITH ORDINALITY AS u(v, k, o);
  PERFORM walden._ensure_partition(t, now());
  -- Counter rows locked in partition order, so concurrent producers never deadlock.
  PERFORM 1 FROM walden.topic_partitions tp
  WHERE tp.topic = t.topic AND tp.partition = ANY (parts)
  ORDER BY tp.partition FOR NO KEY UPDATE;
  WITH counts AS (SELECT p, count(*) AS c FROM unnest(parts) AS p GROUP BY p),
  reserved AS (
    UPDATE walden.topic_partitions tp SET next_offset = tp.next_offset + counts.c
    FROM counts WHERE tp.topic = t.topic AND tp.partition = counts.p
    RETURNING tp.partition AS p, tp.next_offset - counts.c AS first)
  SELECT array_agg(x.off ORDER BY x.o) INTO offs
  FROM (SELECT u.o, r.first + row_number() OVER (PARTITION BY u.p ORDER BY u.o) - 1 AS off
        FROM unnest(parts) WITH ORDINALITY AS u(p, o) JOIN reserved r ON r.p = u.p) x;
  EXECUTE format('INSERT INTO walden_topics.%I (partition, "offset", key, value, headers) '
                 'SELECT * FROM unnest($1, $2, $3, $4, $5)', t.topic)
  USING parts, offs, produce.keys, produce."values", produce.headers;
  RETURN QUERY SELECT * FROM unnest(parts, offs);
END $fn$;

CREATE FUNCTION walden.read(topic text, partition_no int, from_offset bigint,
                            max_messages int DEFAULT 100)
RETURNS TABLE(partition int, "offset" bigint, key text, value jsonb, headers jsonb,
              produced_at timestamptz)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
  t walden.topics := walden._topic(read.topic);
BEGIN
  PERFORM walden._check_partition(t, partition_no);
  IF from_offset IS NULL OR from_offset < 0 THEN
    RAISE EXCEPTION 'walden: from_offset must be 0 or more, not %', coalesce(from_offset::text, 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM walden._check_positive('max_messages', max_messages);
  RETURN QUERY EXECUTE format(
    'SELECT m.partition, m."offset", m.key, m.value, m.headers, m.produced_at '
    'FROM walden_topics.%I m WHERE m.partition = $1 AND m."offset" >= $2 '
    'ORDER BY m."offset" LIMIT $3', t.topic)
  USING partition_no, from_offset, max_messages;
END $fn$;

CREATE FUNCTION walden.create_group(topic text, group_name text, start text DEFAULT 'earliest')
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  t walden.topics := walden._topic(topic);
BEGIN
  PERFORM walden._check_group(group_name);
  IF start IS NULL OR start NOT IN ('earliest', 'latest') THEN
    RAISE EXCEPTION 'walden: start must be ''earliest'' or ''latest'', not %',
      coalesce(quote_literal(start), 'NULL') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  INSERT INTO walden.group_offsets (topic, group_name, partition, committed_offset)
  SELECT t.topic, group_name, p.partition, CASE WHEN start = 'latest' THEN p.next_offset ELSE 0 END
  FROM walden.topic_partitions p WHERE p.topic = t.topic
  ON CONFLICT DO NOTHING;
END $fn$;

CREATE FUNCTION walden.seek(topic text, group_name text, partition int, "offset" bigint)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  t walden.topics := walden._topic(topic);
  end_offset bigint;
BEGIN
  PERFORM walden._check_group(group_name);
  PERFORM walden._check_partition(t, partition);
  SELECT p.next_offset INTO end_offset FROM walden.topic_partitions p
  WHERE p.topic = t.topic AND p.partition = seek.partition;
  IF "offset" IS NULL OR "offset" < 0 OR "offset" > end_offset THEN
    RAISE EXCEPTION 'walden: offset must be 0 to % (the end of partition %), not %', end_offset,
      partition, coalesce("offset"::text, 'NULL') USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM walden.create_group(topic, group_name, 'earliest');
  UPDATE walden.group_offsets g SET committed_offset = seek."offset"
  WHERE g.topic = t.topic AND g.group_name = seek.group_name AND g.partition = seek.partition;
END $fn$;

CREATE FUNCTION walden.consume(topic text, group_name text, max_messages int DEFAULT 100)
RETURNS TABLE(partition int, "offset" bigint, key text, value jsonb, headers jsonb,
              produced_at timestamptz)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  t walden.topics := walden._topic(consume.topic);
  start int;
  claimed int;
  from_offset bigint;
  end_offset bigint;
BEGIN
  PERFORM walden._check_group(consume.group_name);
  PERFORM walden._check_positive('max_messages', consume.max_messages);
  IF NOT EXISTS (SELECT 1 FROM walden.group_offsets g
                 WHERE g.topic = t.topic AND g.group_name = consume.group_name) THEN
    PERFORM walden.create_group(t.topic, consume.group_name, 'earliest');
  END IF;
  -- Claim one partition with messages past the group's offset that no other open
  -- transaction holds; the lock lasts until the caller commits or rolls back. A random
  -- starting partition keeps one busy partition from starving the others.
  start := floor(random() * t.partitions)::int;
  SELECT g.partition, g.committed_offset, p.next_offset INTO claimed, from_offset, end_offset
  FROM walden.group_offsets g
  JOIN walden.topic_partitions p ON p.topic = g.topic AND p.partition = g.partition
  WHERE g.topic = t.topic AND g.group_name = consume.group_name
    AND p.next_offset > g.committed_offset
  ORDER BY (g.partition + t.partitions - start) % t.partitions
  LIMIT 1
  FOR UPDATE OF g SKIP LOCKED;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  RETURN QUERY EXECUTE format(
    'WITH m AS (SELECT m.partition, m."offset", m.key, m.value, m.headers, m.produced_at '
    '           FROM walden_topics.%I m WHERE m.partition = $1 AND m."offset" >= $2 '
    '           ORDER BY m."offset" LIMIT $3), '
    '     advanced AS (UPDATE walden.group_offsets g '
    '                  SET committed_offset = coalesce((SELECT max(m."offset") + 1 FROM m), $4) '
    '                  WHERE g.topic = $5 AND g.group_name = $6 AND g.partition = $1) '
    'SELECT * FROM m ORDER BY "offset"', t.topic)
  USING claimed, from_offset, consume.max_messages, end_offset, t.topic, consume.group_name;
END $fn$;

-- ---------------------------------------------------------------------------------------
-- Queues

CREATE FUNCTION walden.create_queue(queue text, visibility_timeout interval DEFAULT '30 seconds',
                                    max_attempts int DEFAULT 5)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  existing walden.queues;
BEGIN
  PERFORM walden._check_name('queue', queue);
  IF queue = 'dead_letters' THEN
    RAISE EXCEPTION 'walden: queue name ''dead_letters'' is reserved (walden_queues.dead_letters holds every queue''s dead letters)'
      USING ERRCODE = 'invalid_name';
  END IF;
  PERFORM walden._check_interval('visibility_timeout', visibility_timeout, false);
  PERFORM walden._check_positive('max_attempts', max_attempts);
  SELECT * INTO existing FROM walden.queues WHERE walden.queues.queue = create_queue.queue;
  IF FOUND THEN
    IF existing.visibility_timeout = create_queue.visibility_timeout
       AND existing.max_attempts = create_queue.max_attempts THEN
      RETURN;
    END IF;
    RAISE EXCEPTION 'walden: queue % exists with visibility_timeout %, max_attempts %',
      quote_literal(queue), existing.visibility_timeout, existing.max_attempts
      USING ERRCODE = 'duplicate_object';
  END IF;
  INSERT INTO walden.queues (queue, visibility_timeout, max_attempts)
  VALUES (queue, visibility_timeout, max_attempts);
  EXECUTE format('CREATE TABLE walden_queues.%I (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, '
                 'payload jsonb NOT NULL, attempt int NOT NULL DEFAULT 0, '
                 'enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp(), '
                 'visible_at timestamptz NOT NULL DEFAULT clock_timestamp())', queue);
END $fn$;

CREATE FUNCTION walden.enqueue(queue text, payloads jsonb[], delay interval DEFAULT '0')
RETURNS SETOF bigint LANGUAGE plpgsql AS $fn$
DECLARE
  q walden.queues := walden._queue(queue);
BEGIN
  IF payloads IS NULL OR array_ndims(payloads) > 1 OR array_position(payloads, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'walden: payloads must be a one-dimensional array of JSON values without NULLs'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM walden._check_interval('delay', delay, true);
  RETURN QUERY EXECUTE format(
    'INSERT INTO walden_queues.%I (payload, visible_at) '
    'SELECT u.p, clock_timestamp() + $2 FROM unnest($1) WITH ORDINALITY AS u(p, o) ORDER BY u.o '
    'RETURNING id', q.queue)
  USING payloads, delay;
END $fn$;

-- Moves the named jobs that used their last attempt to the dead letters; returns how many.
CREATE FUNCTION walden._bury(q walden.queues, ids bigint[]) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
  buried int;
BEGIN
  EXECUTE format(
    'WITH d AS (DELETE FROM walden_queues.%I j WHERE j.id = ANY ($1) AND j.attempt >= $2 '
    '           RETURNING j.id, j.payload, j.attempt, j.enqueued_at) '
    'INSERT INTO walden_queues.dead_letters (queue, id, payload, attempts, enqueued_at) '
    'SELECT $3, d.id, d.payload, d.attempt, d.enqueued_at FROM d', q.queue)
  USING ids, q.max_attempts, q.queue;
  GET DIAGNOSTICS buried = ROW_COUNT;
  RETURN buried;
END $fn$;

CREATE FUNCTION walden.dequeue(queue text, max_messages int DEFAULT 1,
                               visibility_timeout interval DEFAULT NULL)
RETURNS TABLE(id bigint, payload jsonb, attempt int, enqueued_at timestamptz)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  q walden.queues := walden._queue(dequeue.queue);
  hide interval := coalesce(dequeue.visibility_timeout, q.visibility_timeout);
  picked bigint[];
  handed int := 0;
  n int;
BEGIN
  PERFORM walden._check_positive('max_messages', dequeue.max_messages);
  PERFORM walden._check_interval('visibility_timeout', hide, false);
  LOOP
    EXECUTE format(
      'SELECT array_agg(s.id) FROM (SELECT j.id FROM walden_queues.%I j '
      'WHERE j.visible_at <= clock_timestamp() ORDER BY j.id LIMIT $1 FOR UPDATE SKIP LOCKED) s',
      q.queue) INTO picked USING dequeue.max_messages - handed;
    EXIT WHEN picked IS NULL;
    -- A job past its last attempt goes to the dead letters instead of to a worker.
    n := walden._bury(q, picked);
    RETURN QUERY EXECUTE format(
      'UPDATE walden_queues.%I j SET attempt = j.attempt + 1, visible_at = clock_timestamp() + $2 '
      'WHERE j.id = ANY ($1) RETURNING j.id, j.payload, j.attempt, j.enqueued_at', q.queue)
    USING picked, hide;
    handed := handed + cardinality(picked) - n;
    EXIT WHEN n = 0 OR handed >= dequeue.max_messages;
  END LOOP;
END $fn$;

CREATE FUNCTION walden.ack(queue text, ids bigint[]) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
  q walden.queues := walden._queue(queue);
  n int;
BEGIN
  EXECUTE format('DELETE FROM walden_queues.%I WHERE id = ANY ($1)', q.queue) USING ids;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $fn$;

CREATE FUNCTION walden.nack(queue text, ids bigint[], delay interval DEFAULT '0') RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
  q walden.queues := walden._queue(queue);
  buried int;
  n int;
BEGIN
  PERFORM walden._check_interval('delay', delay, true);
  buried := walden._bury(q, ids);
  EXECUTE format('UPDATE walden_queues.%I SET visible_at = clock_timestamp() + $2 WHERE id = ANY ($1)',
                 q.queue) USING ids, delay;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n + buried;
END $fn$;

CREATE FUNCTION walden.dead_letters(queue text)
RETURNS TABLE(id bigint, payload jsonb, attempts int, enqueued_at timestamptz, died_at timestamptz)
LANGUAGE plpgsql STABLE AS $fn$
#variable_conflict use_column
DECLARE
  q walden.queues := walden._queue(dead_letters.queue);
BEGIN
  RETURN QUERY SELECT d.id, d.payload, d.attempts, d.enqueued_at, d.died_at
  FROM walden_queues.dead_letters d WHERE d.queue = q.queue ORDER BY d.id;
END $fn$;

CREATE FUNCTION walden.redrive(queue text, ids bigint[] DEFAULT NULL) RETURNS int
LANGUAGE plpgsql AS $fn$
DECLARE
  q walden.queues := walden._queue(queue);
  n int;
BEGIN
  EXECUTE format(
    'WITH d AS (DELETE FROM walden_queues.dead_letters d WHERE d.queue = $1 '
    '           AND ($2 IS NULL OR d.id = ANY ($2)) RETURNING d.id, d.payload, d.enqueued_at) '
    'INSERT INTO walden_queues.%I (id, payload, enqueued_at) SELECT id, payload, enqueued_at FROM d',
    q.queue) USING q.queue, ids;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END $fn$;
