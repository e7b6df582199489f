# Saimiris probe reply (topic saimiris-replies, 'reply.capnp:Reply').
# Addresses are 16 bytes; rtt in tenths of milliseconds.
@0xaa64c89577c27fc8;

struct Reply {
  timeReceivedNs   @0  :UInt64;
  agentId          @1  :Text;
  measurementId    @2  :Text;
  replySrcAddr     @3  :Data;
  replyDstAddr     @4  :Data;
  replyId          @5  :UInt16;
  replySize        @6  :UInt16;
  replyTtl         @7  :UInt8;
  replyQuotedTtl   @8  :UInt8;
  replyProtocol    @9  :UInt8;
  replyIcmpType    @10 :UInt8;
  replyIcmpCode    @11 :UInt8;
  replyMplsLabels  @12 :List(MplsLabel);
  probeSrcAddr     @13 :Data;
  probeDstAddr     @14 :Data;
  probeId          @15 :UInt16;
  probeSize        @16 :UInt16;
  probeTtl         @17 :UInt8;
  probeProtocol    @18 :UInt8;
  probeSrcPort     @19 :UInt16;
  probeDstPort     @20 :UInt16;
  rtt              @21 :UInt16;
}

struct MplsLabel {
  label @0 :UInt32;
  exp   @1 :UInt8;
  bottomOfStack @2 :Bool;
  ttl   @3 :UInt8;
}
