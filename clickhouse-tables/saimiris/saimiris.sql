-- saimiris: replies to the probes of the Saimiris agents (vlt hosts), through Redpanda.
-- Pipeline: saimiris agents -> topic saimiris-replies (Cap'n Proto) -> saimiris.from_kafka
--           -> saimiris.from_kafka_mv -> saimiris.replies (7 days).
-- Schema: clickhouse/data/format_schemas/reply.capnp on the core. Idempotent.

CREATE DATABASE IF NOT EXISTS saimiris;

CREATE TABLE IF NOT EXISTS saimiris.from_kafka
(
    timeReceivedNs   UInt64,
    agentId          String,
    measurementId    String,
    replySrcAddr     IPv6,
    replyDstAddr     IPv6,
    replyId          UInt16,
    replySize        UInt16,
    replyTtl         UInt8,
    replyQuotedTtl   UInt8,
    replyProtocol    UInt8,
    replyIcmpType    UInt8,
    replyIcmpCode    UInt8,
    replyMplsLabels  Array(Tuple(label UInt32, exp UInt8, bottomOfStack Bool, ttl UInt8)),
    probeSrcAddr     IPv6,
    probeDstAddr     IPv6,
    probeId          UInt16,
    probeSize        UInt16,
    probeTtl         UInt8,
    probeProtocol    UInt8,
    probeSrcPort     UInt16,
    probeDstPort     UInt16,
    rtt              UInt16
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = 'redpanda:9092',
    kafka_topic_list = 'saimiris-replies',
    kafka_group_name = 'clickhouse-saimiris',
    kafka_format = 'CapnProto',
    kafka_schema = 'reply.capnp:Reply',
    kafka_num_consumers = 1,
    kafka_skip_broken_messages = 100;

CREATE TABLE IF NOT EXISTS saimiris.replies
(
    time_inserted_ns  DateTime64(9),
    time_received_ns  DateTime64(9),
    agent_id          LowCardinality(String),
    measurement_id    String,
    reply_src_addr    IPv6,
    reply_dst_addr    IPv6,
    reply_id          UInt16,
    reply_size        UInt16,
    reply_ttl         UInt8,
    reply_quoted_ttl  UInt8,
    reply_protocol    UInt8,
    reply_icmp_type   UInt8,
    reply_icmp_code   UInt8,
    reply_mpls_labels Array(Tuple(label UInt32, exp UInt8, bottom_of_stack Bool, ttl UInt8)),
    probe_src_addr    IPv6,
    probe_dst_addr    IPv6,
    probe_id          UInt16,
    probe_size        UInt16,
    probe_ttl         UInt8,
    probe_protocol    UInt8,
    probe_src_port    UInt16,
    probe_dst_port    UInt16,
    rtt               Float32   -- milliseconds
)
ENGINE = MergeTree
PARTITION BY toDate(time_received_ns)
ORDER BY (agent_id, probe_protocol, probe_src_addr, probe_dst_addr, probe_src_port, probe_dst_port, probe_ttl)
TTL toDateTime(time_received_ns) + INTERVAL 7 DAY DELETE;

CREATE MATERIALIZED VIEW IF NOT EXISTS saimiris.from_kafka_mv TO saimiris.replies
AS SELECT
    now64(9)                                          AS time_inserted_ns,
    fromUnixTimestamp64Nano(toInt64(timeReceivedNs))  AS time_received_ns,
    agentId                                           AS agent_id,
    measurementId                                     AS measurement_id,
    replySrcAddr                                      AS reply_src_addr,
    replyDstAddr                                      AS reply_dst_addr,
    replyId                                           AS reply_id,
    replySize                                         AS reply_size,
    replyTtl                                          AS reply_ttl,
    replyQuotedTtl                                    AS reply_quoted_ttl,
    replyProtocol                                     AS reply_protocol,
    replyIcmpType                                     AS reply_icmp_type,
    replyIcmpCode                                     AS reply_icmp_code,
    -- named tuples cast by name: rebuild them by position (bottomOfStack -> bottom_of_stack)
    arrayMap(l -> (l.1, l.2, l.3, l.4), replyMplsLabels) AS reply_mpls_labels,
    probeSrcAddr                                      AS probe_src_addr,
    probeDstAddr                                      AS probe_dst_addr,
    probeId                                           AS probe_id,
    probeSize                                         AS probe_size,
    probeTtl                                          AS probe_ttl,
    probeProtocol                                     AS probe_protocol,
    probeSrcPort                                      AS probe_src_port,
    probeDstPort                                      AS probe_dst_port,
    rtt / 10                                          AS rtt
FROM saimiris.from_kafka;
