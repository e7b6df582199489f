-- bmp: BGP updates collected by risotto from the BIRD routers (BMP), through Redpanda.
-- Pipeline: BIRD -> risotto -> topic risotto-updates (Cap'n Proto) -> bmp.from_kafka
--           -> bmp.from_kafka_mv -> bmp.updates (7 days).
-- Schema: clickhouse/data/format_schemas/update.capnp on the core. Idempotent.

CREATE DATABASE IF NOT EXISTS bmp;

-- Kafka consumer: columns are the Cap'n Proto fields, camelCase, as risotto writes them.
CREATE TABLE IF NOT EXISTS bmp.from_kafka
(
    timeReceivedNs   UInt64,
    timeBmpHeaderNs  UInt64,
    routerAddr       IPv6,
    routerPort       UInt16,
    peerAddr         IPv6,
    peerBgpId        UInt32,
    peerAsn          UInt32,
    prefixAddr       IPv6,
    prefixLen        UInt8,
    isPostPolicy     Bool,
    isAdjRibOut      Bool,
    announced        Bool,
    nextHop          IPv6,
    origin           String,
    path             Array(UInt32),
    localPreference  UInt32,
    med              UInt32,
    communities      Array(Tuple(asn UInt32, value UInt16)),
    largeCommunities Array(Tuple(globalAdmin UInt32, localData1 UInt32, localData2 UInt32)),
    synthetic        Bool
)
ENGINE = Kafka
SETTINGS
    kafka_broker_list = 'redpanda:9092',
    kafka_topic_list = 'risotto-updates',
    kafka_group_name = 'clickhouse-bmp',
    kafka_format = 'CapnProto',
    kafka_schema = 'update.capnp:Update',
    kafka_num_consumers = 1,
    kafka_max_rows_per_message = 1048576,
    kafka_skip_broken_messages = 100;

CREATE TABLE IF NOT EXISTS bmp.updates
(
    time_inserted_ns   DateTime64(9),
    time_received_ns   DateTime64(9),
    time_bmp_header_ns DateTime64(9),
    router_addr        IPv6,
    router_port        UInt16,
    peer_addr          IPv6,
    peer_bgp_id        IPv4,
    peer_asn           UInt32,
    prefix_addr        IPv6,
    prefix_len         UInt8,
    is_post_policy     Bool,
    is_adj_rib_out     Bool,
    announced          Bool,
    next_hop           IPv6,
    origin             LowCardinality(String),
    path               Array(UInt32),
    local_preference   UInt32,
    med                UInt32,
    communities        Array(Tuple(asn UInt32, value UInt16)),
    large_communities  Array(Tuple(global_admin UInt32, local_data1 UInt32, local_data2 UInt32)),
    synthetic          Bool
)
ENGINE = MergeTree
PARTITION BY toDate(time_received_ns)
ORDER BY (router_addr, peer_addr, prefix_addr, prefix_len, time_received_ns)
TTL toDateTime(time_received_ns) + INTERVAL 7 DAY DELETE;

CREATE MATERIALIZED VIEW IF NOT EXISTS bmp.from_kafka_mv TO bmp.updates
AS SELECT
    now64(9)                                            AS time_inserted_ns,
    fromUnixTimestamp64Nano(toInt64(timeReceivedNs))    AS time_received_ns,
    fromUnixTimestamp64Nano(toInt64(timeBmpHeaderNs))   AS time_bmp_header_ns,
    routerAddr                                          AS router_addr,
    routerPort                                          AS router_port,
    peerAddr                                            AS peer_addr,
    toIPv4(peerBgpId)                                   AS peer_bgp_id,
    peerAsn                                             AS peer_asn,
    prefixAddr                                          AS prefix_addr,
    prefixLen                                           AS prefix_len,
    isPostPolicy                                        AS is_post_policy,
    isAdjRibOut                                         AS is_adj_rib_out,
    announced,
    nextHop                                             AS next_hop,
    origin,
    path,
    localPreference                                     AS local_preference,
    med,
    communities,
    largeCommunities                                    AS large_communities,
    synthetic
FROM bmp.from_kafka;
