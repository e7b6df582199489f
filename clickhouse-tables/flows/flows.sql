-- flows: sFlow flow samples collected by pesto (hsflowd on the routers and probes),
-- through Redpanda. IPv6 flow samples only: pesto drops counter samples, and the
-- materialized view keeps ipVersion = 6.
-- Pipeline: hsflowd -> pesto -> topic pesto-sflow (Cap'n Proto) -> flows.from_kafka
--           -> flows.from_kafka_mv -> flows.records (7 days).
-- Schema: clickhouse/data/format_schemas/sflow.capnp on the core. Idempotent.

CREATE DATABASE IF NOT EXISTS flows;

CREATE TABLE IF NOT EXISTS flows.from_kafka
(
    timeReceivedNs         UInt64,
    agentAddr              IPv6,
    agentSubId             UInt32,
    datagramSequenceNumber UInt32,
    uptime                 UInt32,
    sampleSequenceNumber   UInt32,
    sourceIdType           UInt8,
    sourceIdIndex          UInt32,
    samplingRate           UInt32,
    samplePool             UInt32,
    drops                  UInt32,
    inputInterface         UInt32,
    outputInterface        UInt32,
    headerProtocol         UInt32,
    frameLength            UInt32,
    etherType              UInt16,
    srcMac                 UInt64,
    dstMac                 UInt64,
    vlanId                 UInt16,
    ipVersion              UInt8,
    srcIp                  IPv6,
    dstIp                  IPv6,
    ipProtocol             UInt8,
    ipTos                  UInt8,
    ipTtl                  UInt8,
    ipv6FlowLabel          UInt32,
    srcPort                UInt16,
    dstPort                UInt16,
    tcpFlags               UInt8,
    icmpType               UInt8,
    icmpCode               UInt8
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = 'redpanda:9092',
    kafka_topic_list = 'pesto-sflow',
    kafka_group_name = 'clickhouse-flows',
    kafka_format = 'CapnProto',
    kafka_schema = 'sflow:SFlowFlowRecord',
    kafka_num_consumers = 1,
    kafka_skip_broken_messages = 100;

CREATE TABLE IF NOT EXISTS flows.records
(
    time_inserted_ns  DateTime64(9),
    time_received_ns  DateTime64(9),
    agent_addr        IPv6,
    agent_sub_id      UInt32,
    sequence_number   UInt32,
    source_id_index   UInt32,
    sampling_rate     UInt32,
    sample_pool       UInt32,
    drops             UInt32,
    input_interface   UInt32,
    output_interface  UInt32,
    frame_length      UInt32,
    src_addr          IPv6,
    dst_addr          IPv6,
    protocol          UInt8,
    traffic_class     UInt8,
    hop_limit         UInt8,
    flow_label        UInt32,
    src_port          UInt16,
    dst_port          UInt16,
    tcp_flags         UInt8,
    icmp_type         UInt8,
    icmp_code         UInt8,
    -- estimated traffic represented by this sample
    bytes             UInt64 MATERIALIZED toUInt64(frame_length) * sampling_rate,
    packets           UInt64 MATERIALIZED sampling_rate
)
ENGINE = MergeTree
PARTITION BY toDate(time_received_ns)
ORDER BY (agent_addr, time_received_ns)
TTL toDateTime(time_received_ns) + INTERVAL 7 DAY DELETE;

CREATE MATERIALIZED VIEW IF NOT EXISTS flows.from_kafka_mv TO flows.records
AS SELECT
    now64(9)                                          AS time_inserted_ns,
    fromUnixTimestamp64Nano(toInt64(timeReceivedNs))  AS time_received_ns,
    agentAddr                                         AS agent_addr,
    agentSubId                                        AS agent_sub_id,
    sampleSequenceNumber                              AS sequence_number,
    sourceIdIndex                                     AS source_id_index,
    samplingRate                                      AS sampling_rate,
    samplePool                                        AS sample_pool,
    drops,
    inputInterface                                    AS input_interface,
    outputInterface                                   AS output_interface,
    frameLength                                       AS frame_length,
    srcIp                                             AS src_addr,
    dstIp                                             AS dst_addr,
    ipProtocol                                        AS protocol,
    ipTos                                             AS traffic_class,
    ipTtl                                             AS hop_limit,
    ipv6FlowLabel                                     AS flow_label,
    srcPort                                           AS src_port,
    dstPort                                           AS dst_port,
    tcpFlags                                          AS tcp_flags,
    icmpType                                          AS icmp_type,
    icmpCode                                          AS icmp_code
FROM flows.from_kafka
WHERE ipVersion = 6;
