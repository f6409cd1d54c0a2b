-- walden topics API, schema version 2: a leaner walden.produce (same signature, results and
-- guarantees as version 1). Applied after 001 by `walden topics init`; no table changes, so an
-- upgrade keeps every message, offset and group position.
--
-- Why: four producers whose batches span every partition take the partitions' counter rows
-- one after another, so what runs while those row locks are held bounds the topic's rate.
-- Version 1 computed each message's offset with a window over a join with the reserved
-- ranges (about 0.2 ms per 100 messages) while holding the locks. Here each message's rank
-- among the call's messages of its partition is computed before any lock is taken; under
-- the locks only the counter UPDATE, the INSERT and the result remain. docs/benchmarks.md
-- has the figures.

CREATE OR REPLACE FUNCTION walden.produce(topic text, "values" jsonb[], keys text[] DEFAULT NULL,
                                          headers jsonb[] DEFAULT NULL)
RETURNS TABLE(partition int, "offset" bigint) LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
  t walden.topics;
  n int := coalesce(cardinality(produce."values"), 0);
  rr int := 0;
  parts int[];   -- each message's partition, in input order
  ranks int[];   -- its rank among this call's messages of that partition (0, 1, ...)
  firsts bigint[];  -- firsts[p + 1]: the first offset reserved in partition p
  reserved record;
BEGIN
  SELECT * INTO t FROM walden.topics WHERE walden.topics.topic = produce.topic;
  IF NOT FOUND THEN
    t := walden._topic(produce.topic);  -- raises the invalid-name or unknown-topic error
  END IF;
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
  IF produce.headers IS NOT NULL
     AND EXISTS (SELECT 1 FROM unnest(produce.headers) h WHERE h IS NOT NULL AND jsonb_typeof(h) <> 'object') THEN
    RAISE EXCEPTION 'walden: each header must be a JSON object or NULL'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF n = 0 THEN
    RETURN;
  END IF;
  IF produce.keys IS NULL OR array_position(produce.keys, NULL) IS NOT NULL THEN
    rr := nextval('walden.round_robin') % t.partitions;
  END IF;
  SELECT array_agg(s.p ORDER BY s.o), array_agg(s.r ORDER BY s.o) INTO parts, ranks
  FROM (SELECT u.o, u.p, (row_number() OVER (PARTITION BY u.p ORDER BY u.o))::int - 1 AS r
        FROM (SELECT v.o, CASE WHEN v.k IS NULL THEN rr
                               ELSE ((hashtextextended(v.k, 0) % t.partitions + t.partitions)
                                     % t.partitions)::int
                          END AS p
              FROM unnest(produce."values", produce.keys) WITH ORDINALITY AS v(x, k, o)) u) s;
  PERFORM walden._ensure_partition(t, now());
  -- Counter rows locked in partition order, so concurrent producers never deadlock; held
  -- until the caller's transaction ends, so offset order is commit order.
  PERFORM 1 FROM walden.topic_partitions tp
  WHERE tp.topic = t.topic AND tp.partition = ANY (parts)
  ORDER BY tp.partition FOR NO KEY UPDATE;
  FOR reserved IN
    WITH counts AS (SELECT c.p, count(*) AS c FROM unnest(parts) AS c(p) GROUP BY c.p)
    UPDATE walden.topic_partitions tp SET next_offset = tp.next_offset + counts.c
    FROM counts WHERE tp.topic = t.topic AND tp.partition = counts.p
    RETURNING tp.partition AS p, tp.next_offset - counts.c AS first
  LOOP
    firsts[reserved.p + 1] := reserved.first;
  END LOOP;
  EXECUTE format('INSERT INTO walden_topics.%I (partition, "offset", key, value, headers) '
                 'SELECT u.p, $6[u.p + 1] + u.r, u.k, u.v, u.h '
                 'FROM unnest($1, $2, $3, $4, $5) AS u(p, r, k, v, h)', t.topic)
  USING parts, ranks, produce.keys, produce."values", produce.headers, firsts;
  RETURN QUERY SELECT u.p, firsts[u.p + 1] + u.r FROM unnest(parts, ranks) AS u(p, r);
END $fn$;
