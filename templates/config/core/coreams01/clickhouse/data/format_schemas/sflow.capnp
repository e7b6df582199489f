# Pesto sFlow v5 flow record, flattened (no unions) so ClickHouse can read it
# (topic pesto-sflow, 'sflow:SFlowFlowRecord'). Only flow samples are produced;
# counter samples are dropped by pesto. Addresses are 16 bytes.
@0xe7b2a4c9d1f36058;

struct SFlowFlowRecord {
  # datagram
  timeReceivedNs         @0  :UInt64;
  agentAddr              @1  :Data;
  agentSubId             @2  :UInt32;
  datagramSequenceNumber @3  :UInt32;
  uptime                 @4  :UInt32;   # agent uptime (ms)

  # flow sample
  sampleSequenceNumber   @5  :UInt32;
  sourceIdType           @6  :UInt8;
  sourceIdIndex          @7  :UInt32;
  samplingRate           @8  :UInt32;
  samplePool             @9  :UInt32;
  drops                  @10 :UInt32;
  inputInterface         @11 :UInt32;
  outputInterface        @12 :UInt32;

  # sampled header (raw packet header record)
  headerProtocol         @13 :UInt32;
  frameLength            @14 :UInt32;
  etherType              @15 :UInt16;
  srcMac                 @16 :UInt64;
  dstMac                 @17 :UInt64;
  vlanId                 @18 :UInt16;
  ipVersion              @19 :UInt8;    # 4 or 6
  srcIp                  @20 :Data;
  dstIp                  @21 :Data;
  ipProtocol             @22 :UInt8;    # next header
  ipTos                  @23 :UInt8;    # traffic class
  ipTtl                  @24 :UInt8;    # hop limit
  ipv6FlowLabel          @25 :UInt32;
  srcPort                @26 :UInt16;
  dstPort                @27 :UInt16;
  tcpFlags               @28 :UInt8;
  icmpType               @29 :UInt8;
  icmpCode               @30 :UInt8;
}
