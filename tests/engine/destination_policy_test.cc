#include "engine/destination_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "engine/self_addresses.h"

namespace fetchpool {
namespace {

using ::testing::HasSubstr;

// A sockaddr for a literal IPv4 or IPv6 address.
sockaddr_storage Addr(const std::string& ip, uint16_t port = 80) {
  sockaddr_storage ss;
  std::memset(&ss, 0, sizeof(ss));
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  if (inet_pton(AF_INET, ip.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    return ss;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET6, ip.c_str(), &in6->sin6_addr) != 1) {
    ADD_FAILURE() << "bad test address " << ip;
  }
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  return ss;
}

const sockaddr* Sa(const sockaddr_storage& ss) { return reinterpret_cast<const sockaddr*>(&ss); }

DestinationPolicy Policy(const std::vector<std::string>& allow = {}) {
  absl::StatusOr<DestinationPolicy> policy = DestinationPolicy::Create(allow);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *policy;
}

struct GoodCidr {
  const char* text;
  int family;
  int prefix_len;
  const char* canonical;
};

TEST(CidrTest, ParsesGoodCidrs) {
  const GoodCidr cases[] = {
      {"10.0.0.0/8", AF_INET, 8, "10.0.0.0/8"},
      {"192.168.1.7", AF_INET, 32, "192.168.1.7/32"},  // bare address: one host
      {"192.168.1.7/32", AF_INET, 32, "192.168.1.7/32"},
      {"0.0.0.0/0", AF_INET, 0, "0.0.0.0/0"},
      {"172.16.0.0/12", AF_INET, 12, "172.16.0.0/12"},
      {"fd00::/8", AF_INET6, 8, "fd00::/8"},
      {"FD00:0::/8", AF_INET6, 8, "fd00::/8"},
      {"2001:db8::1", AF_INET6, 128, "2001:db8::1/128"},
      {"::/0", AF_INET6, 0, "::/0"},
      {"::ffff:10.0.0.0/104", AF_INET6, 104, "::ffff:10.0.0.0/104"},
  };
  for (const GoodCidr& c : cases) {
    absl::StatusOr<Cidr> cidr = Cidr::Parse(c.text);
    ASSERT_TRUE(cidr.ok()) << c.text << ": " << cidr.status();
    EXPECT_EQ(cidr->family, c.family) << c.text;
    EXPECT_EQ(cidr->prefix_len, c.prefix_len) << c.text;
    EXPECT_EQ(cidr->ToString(), c.canonical) << c.text;
  }
}

TEST(CidrTest, RejectsBadCidrs) {
  for (const char* text :
       {"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/ 8",
        "10.0.0.0/8 ", "10.0.0/8", "10.0.0.256/32", "127.1", "example.com/8", "::/129",
        "fe80::1%eth0/64", "10.0.0.0/8/8", "10.0.0.0/0008", "1.2.3.4/3x"}) {
    absl::StatusOr<Cidr> cidr = Cidr::Parse(text);
    if (cidr.ok()) {
      ADD_FAILURE() << '"' << text << "\" parsed as " << cidr->ToString();
    } else {
      EXPECT_EQ(cidr.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

// Host bits below the prefix are refused, not masked: "10.0.0.1/8" may mean
// the one host, and masking would open the whole /8.
TEST(CidrTest, RejectsHostBitsAndNamesTheNetwork) {
  absl::StatusOr<Cidr> v4 = Cidr::Parse("10.0.0.1/8");
  ASSERT_FALSE(v4.ok());
  EXPECT_THAT(v4.status().message(), HasSubstr("10.0.0.0/8"));
  EXPECT_THAT(v4.status().message(), HasSubstr("10.0.0.1/32"));
  absl::StatusOr<Cidr> v6 = Cidr::Parse("fd00::1/8");
  ASSERT_FALSE(v6.ok());
  EXPECT_THAT(v6.status().message(), HasSubstr("fd00::/8"));
}

TEST(CidrTest, ContainsRespectsPrefixBoundaries) {
  Cidr cidr = *Cidr::Parse("10.0.0.0/9");
  EXPECT_TRUE(cidr.Contains(Sa(Addr("10.0.0.0"))));
  EXPECT_TRUE(cidr.Contains(Sa(Addr("10.127.255.255"))));
  EXPECT_FALSE(cidr.Contains(Sa(Addr("10.128.0.0"))));
  EXPECT_FALSE(cidr.Contains(Sa(Addr("11.0.0.0"))));

  Cidr any4 = *Cidr::Parse("0.0.0.0/0");
  EXPECT_TRUE(any4.Contains(Sa(Addr("255.255.255.255"))));
  EXPECT_TRUE(any4.Contains(Sa(Addr("::ffff:1.2.3.4"))));  // mapped form of IPv4
  EXPECT_FALSE(any4.Contains(Sa(Addr("2001:db8::1"))));    // real IPv6

  Cidr v6 = *Cidr::Parse("2001:db8::/33");
  EXPECT_TRUE(v6.Contains(Sa(Addr("2001:db8:7fff::1"))));
  EXPECT_FALSE(v6.Contains(Sa(Addr("2001:db8:8000::1"))));
  EXPECT_FALSE(v6.Contains(Sa(Addr("10.0.0.1"))));
}

TEST(CidrTest, ContainsNothingForOtherFamilies) {
  sockaddr_un un;
  std::memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  EXPECT_FALSE(Cidr::Parse("0.0.0.0/0")->Contains(reinterpret_cast<const sockaddr*>(&un)));
  EXPECT_FALSE(Cidr::Parse("::/0")->Contains(nullptr));
}

struct DenyCase {
  const char* address;
  const char* label;  // part of the deny entry's label
  const char* range;  // the deny entry
};

const DenyCase kDenied[] = {
    {"127.0.0.1", "loopback", "127.0.0.0/8"},
    {"127.255.255.254", "loopback", "127.0.0.0/8"},
    {"::1", "loopback", "::1/128"},
    {"0.0.0.0", "unspecified", "0.0.0.0/8"},
    {"0.1.2.3", "unspecified", "0.0.0.0/8"},
    {"::", "unspecified", "::/128"},
    {"169.254.169.254", "cloud metadata", "169.254.0.0/16"},
    {"169.254.170.2", "cloud metadata", "169.254.0.0/16"},
    {"169.254.0.1", "link-local", "169.254.0.0/16"},
    {"fe80::1", "link-local", "fe80::/10"},
    {"febf:ffff::1", "link-local", "fe80::/10"},
    {"fd00:ec2::254", "AWS", "fd00:ec2::254/128"},
    {"100.100.100.200", "Alibaba", "100.100.100.200/32"},
    // IPv4-mapped IPv6 forms reach the IPv4 address: same rules.
    {"::ffff:127.0.0.1", "loopback", "127.0.0.0/8"},
    {"::ffff:0.0.0.0", "unspecified", "0.0.0.0/8"},
    {"::ffff:169.254.169.254", "cloud metadata", "169.254.0.0/16"},
    {"::ffff:100.100.100.200", "Alibaba", "100.100.100.200/32"},
};

TEST(DestinationPolicyTest, DeniesEveryDefaultEntryAndExplainsWhatToDo) {
  DestinationPolicy policy = Policy();
  for (const DenyCase& c : kDenied) {
    sockaddr_storage addr = Addr(c.address);
    EXPECT_FALSE(policy.Allows(Sa(addr))) << c.address;
    std::string why = policy.Explain(Sa(addr));
    EXPECT_THAT(why, HasSubstr("default deny list")) << c.address;
    EXPECT_THAT(why, HasSubstr(c.label)) << c.address;
    EXPECT_THAT(why, HasSubstr(c.range)) << c.address;
    EXPECT_THAT(why, HasSubstr("--allow_cidrs=")) << c.address;
  }
}

TEST(DestinationPolicyTest, ExplainSuggestsTheSingleAddress) {
  DestinationPolicy policy = Policy();
  EXPECT_EQ(policy.Explain(Sa(Addr("127.0.0.1"))),
            "127.0.0.1 is in the default deny list (loopback 127.0.0.0/8); if fetchpool should "
            "reach it, allow it with --allow_cidrs=127.0.0.1/32 (or the whole range "
            "127.0.0.0/8)");
  std::string mapped = policy.Explain(Sa(Addr("::ffff:127.0.0.1")));
  EXPECT_THAT(mapped, HasSubstr("::ffff:127.0.0.1 (IPv4 127.0.0.1)"));
  EXPECT_THAT(mapped, HasSubstr("--allow_cidrs=127.0.0.1/32"));
  EXPECT_THAT(policy.Explain(Sa(Addr("fe80::1"))), HasSubstr("--allow_cidrs=fe80::1/128"));
}

TEST(DestinationPolicyTest, AllowsPublicAndPrivateAddresses) {
  DestinationPolicy policy = Policy();
  // Private ranges are allowed: fetchpool's callers reach internal APIs.
  for (const char* address :
       {"1.1.1.1", "8.8.8.8", "93.184.216.34", "10.0.0.1", "192.168.1.1", "172.16.0.1",
        "128.0.0.1", "126.255.255.255", "1.0.0.0", "169.255.0.1", "169.253.255.255",
        "100.100.100.199", "100.100.100.201", "2606:4700::1111", "2001:db8::1", "fec0::1",
        "fd00:ec2::253", "fd00:ec2::255", "::ffff:8.8.8.8", "::808:808",
        "64:ff9b::808:808", "2002:808:808::1", "2001:db8::1"}) {
    sockaddr_storage addr = Addr(address);
    EXPECT_TRUE(policy.Allows(Sa(addr))) << address;
    EXPECT_THAT(policy.Explain(Sa(addr)), HasSubstr("is allowed")) << address;
  }
}

TEST(DestinationPolicyTest, AllowCidrOverridesDeny) {
  DestinationPolicy policy = Policy({"127.0.0.0/8", "169.254.169.254/32"});
  EXPECT_TRUE(policy.Allows(Sa(Addr("127.0.0.1"))));
  EXPECT_TRUE(policy.Allows(Sa(Addr("127.9.9.9"))));
  EXPECT_TRUE(policy.Allows(Sa(Addr("::ffff:127.0.0.1"))));  // mapped form too
  EXPECT_TRUE(policy.Allows(Sa(Addr("169.254.169.254"))));
  EXPECT_FALSE(policy.Allows(Sa(Addr("169.254.170.2"))));  // rest of the range stays denied
  EXPECT_FALSE(policy.Allows(Sa(Addr("::1"))));            // IPv6 loopback not allowed
  EXPECT_THAT(policy.Explain(Sa(Addr("127.0.0.1"))),
              HasSubstr("allowed by --allow_cidrs entry 127.0.0.0/8"));
  ASSERT_EQ(policy.allow().size(), 2u);
  EXPECT_EQ(policy.allow()[1].ToString(), "169.254.169.254/32");
}

TEST(DestinationPolicyTest, AllowInIpv6AndMappedForms) {
  DestinationPolicy v6 = Policy({"::1/128", "fe80::/10"});
  EXPECT_TRUE(v6.Allows(Sa(Addr("::1"))));
  EXPECT_TRUE(v6.Allows(Sa(Addr("fe80::abcd"))));
  EXPECT_FALSE(v6.Allows(Sa(Addr("127.0.0.1"))));
  // An allow entry written in mapped form covers the plain IPv4 address.
  DestinationPolicy mapped = Policy({"::ffff:127.0.0.0/104"});
  EXPECT_TRUE(mapped.Allows(Sa(Addr("127.0.0.1"))));
  EXPECT_TRUE(mapped.Allows(Sa(Addr("::ffff:127.0.0.1"))));
}

TEST(DestinationPolicyTest, CreateNamesTheBadEntryAndTrimsSpaces) {
  absl::StatusOr<DestinationPolicy> bad = DestinationPolicy::Create({"10.0.0.0/8", "10.0.0.1/8"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("allow_cidrs entry 2"));
  EXPECT_THAT(bad.status().message(), HasSubstr("10.0.0.1/8"));

  EXPECT_FALSE(DestinationPolicy::Create({""}).ok());
  absl::StatusOr<DestinationPolicy> spaced = DestinationPolicy::Create({" 127.0.0.1 "});
  ASSERT_TRUE(spaced.ok()) << spaced.status();
  EXPECT_TRUE(spaced->Allows(Sa(Addr("127.0.0.1"))));
}

TEST(DestinationPolicyTest, FailsClosedOnOtherFamilies) {
  DestinationPolicy policy = Policy({"0.0.0.0/0", "::/0"});
  sockaddr_un un;
  std::memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  EXPECT_FALSE(policy.Allows(reinterpret_cast<const sockaddr*>(&un)));
  EXPECT_FALSE(policy.Allows(nullptr));
  EXPECT_THAT(policy.Explain(reinterpret_cast<const sockaddr*>(&un)),
              HasSubstr("not IPv4 or IPv6"));
}

TEST(SockaddrToStringTest, FormatsBothFamilies) {
  EXPECT_EQ(SockaddrToString(Sa(Addr("1.2.3.4", 80))), "1.2.3.4:80");
  EXPECT_EQ(SockaddrToString(Sa(Addr("::1", 443))), "[::1]:443");
  EXPECT_EQ(SockaddrToString(Sa(Addr("::ffff:10.0.0.1", 8080))), "[::ffff:10.0.0.1]:8080");
  sockaddr_storage scoped = Addr("fe80::1", 80);
  reinterpret_cast<sockaddr_in6*>(&scoped)->sin6_scope_id = 2;
  EXPECT_EQ(SockaddrToString(Sa(scoped)), "[fe80::1%2]:80");
  sockaddr_un un;
  std::memset(&un, 0, sizeof(un));
  un.sun_family = AF_UNIX;
  EXPECT_EQ(SockaddrToString(reinterpret_cast<const sockaddr*>(&un)), "<address family 1>");
}

}  // namespace
// ---- Issue 11: the wider built-in list, embedded IPv4, private networks,
// operator denies and how allow entries open them.

DestinationPolicy Full(const std::vector<std::string>& allow, const std::vector<std::string>& deny,
                       bool deny_private) {
  absl::StatusOr<DestinationPolicy> policy = DestinationPolicy::Create(allow, deny, deny_private);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *policy;
}

TEST(DestinationPolicyTest, DeniesMulticastAndBroadcast) {
  DestinationPolicy policy = Policy();
  for (const char* address : {"224.0.0.1", "239.255.255.250", "ff02::1", "ff05::1:3",
                              "255.255.255.255", "::ffff:224.0.0.251"}) {
    EXPECT_FALSE(policy.Allows(Sa(Addr(address)))) << address;
    EXPECT_THAT(policy.Explain(Sa(Addr(address))), HasSubstr("default deny list")) << address;
  }
  EXPECT_TRUE(policy.Allows(Sa(Addr("223.255.255.255"))));
  EXPECT_TRUE(policy.Allows(Sa(Addr("255.255.255.254"))));
}

TEST(DestinationPolicyTest, DeniesIpv4EmbeddedInIpv6ByTheEmbeddedAddress) {
  DestinationPolicy policy = Policy();
  struct Case {
    const char* address;
    const char* how;
  };
  // 169.254.169.254 is a9fe:a9fe; XOR 0xff (Teredo client) is 5601:5601.
  for (const Case& c : std::vector<Case>{
           {"64:ff9b::a9fe:a9fe", "NAT64 64:ff9b::/96"},
           {"64:ff9b::7f00:1", "NAT64 64:ff9b::/96"},
           {"64:ff9b:1::a9fe:a9fe", "NAT64 64:ff9b:1::/48"},
           {"2002:a9fe:a9fe::", "6to4"},
           {"2002:7f00:1::1", "6to4"},
           {"2001:0:a9fe:a9fe::1", "Teredo 2001::/32 server"},
           {"2001:0:808:808::5601:5601", "Teredo 2001::/32 client"},
           {"::a9fe:a9fe", "IPv4-compatible"},
           {"::7f00:1", "IPv4-compatible"},
       }) {
    EXPECT_FALSE(policy.Allows(Sa(Addr(c.address)))) << c.address;
    const std::string why = policy.Explain(Sa(Addr(c.address)));
    EXPECT_THAT(why, HasSubstr(c.how)) << c.address;
    EXPECT_THAT(why, HasSubstr("--allow_cidrs=")) << c.address;
  }
  EXPECT_THAT(policy.Explain(Sa(Addr("64:ff9b::a9fe:a9fe"))),
              HasSubstr("carries IPv4 169.254.169.254"));
  // Public IPv4 inside the same prefixes is fine.
  for (const char* address : {"64:ff9b::808:808", "2002:808:808::", "2001:0:808:808::f7f7:f7f7"}) {
    EXPECT_TRUE(policy.Allows(Sa(Addr(address)))) << address;
  }
  // Allowing the IPv4 address allows its embedded forms too.
  DestinationPolicy metadata = Policy({"169.254.169.254/32"});
  EXPECT_TRUE(metadata.Allows(Sa(Addr("64:ff9b::a9fe:a9fe"))));
}

TEST(DestinationPolicyTest, ABroadAllowDoesNotOpenADeniedRange) {
  DestinationPolicy everything = Policy({"::/0", "0.0.0.0/0"});
  EXPECT_FALSE(everything.Allows(Sa(Addr("::ffff:169.254.169.254"))));
  EXPECT_FALSE(everything.Allows(Sa(Addr("169.254.169.254"))));
  EXPECT_FALSE(everything.Allows(Sa(Addr("::1"))));
  EXPECT_FALSE(everything.Allows(Sa(Addr("127.0.0.1"))));
  EXPECT_FALSE(everything.Allows(Sa(Addr("64:ff9b::a9fe:a9fe"))));
  EXPECT_TRUE(everything.Allows(Sa(Addr("8.8.8.8"))));
  // Inside the range: exact or narrower opens it.
  EXPECT_TRUE(Policy({"127.0.0.0/8"}).Allows(Sa(Addr("127.0.0.1"))));
  EXPECT_TRUE(Policy({"127.0.0.1/32"}).Allows(Sa(Addr("127.0.0.1"))));
  EXPECT_TRUE(Policy({"127.0.0.1/32"}).Allows(Sa(Addr("::ffff:127.0.0.1"))));
  EXPECT_FALSE(Policy({"126.0.0.0/7"}).Allows(Sa(Addr("127.0.0.1"))));  // wider than the deny
}

TEST(DestinationPolicyTest, PrivateNetworksAreDeniedOnRequest) {
  DestinationPolicy open = Policy();
  DestinationPolicy closed = Full({}, {}, /*deny_private=*/true);
  for (const char* address : {"10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1",
                              "fd12::1", "fc00::1", "100.64.0.1", "198.18.0.1", "198.19.255.255",
                              "::ffff:10.1.2.3", "64:ff9b::a00:1"}) {
    EXPECT_TRUE(open.Allows(Sa(Addr(address)))) << address;
    EXPECT_FALSE(closed.Allows(Sa(Addr(address)))) << address;
    EXPECT_THAT(closed.Explain(Sa(Addr(address))), HasSubstr("deny_private_networks"))
        << address;
  }
  for (const char* address : {"172.32.0.1", "100.128.0.1", "198.20.0.1", "8.8.8.8"}) {
    EXPECT_TRUE(closed.Allows(Sa(Addr(address)))) << address;
  }
  EXPECT_TRUE(Full({"10.1.0.0/16"}, {}, true).Allows(Sa(Addr("10.1.2.3"))));
  EXPECT_FALSE(Full({"10.1.0.0/16"}, {}, true).Allows(Sa(Addr("10.2.0.1"))));
  EXPECT_FALSE(Full({"0.0.0.0/0"}, {}, true).Allows(Sa(Addr("10.2.0.1"))));
}

TEST(DestinationPolicyTest, OperatorDenyCidrsAreHardDenies) {
  DestinationPolicy policy = Full({"0.0.0.0/0", "203.0.113.7/32"}, {"203.0.113.0/24"}, false);
  EXPECT_FALSE(policy.Allows(Sa(Addr("203.0.113.1"))));
  EXPECT_TRUE(policy.Allows(Sa(Addr("203.0.113.7"))));  // an allow inside the deny
  EXPECT_THAT(policy.Explain(Sa(Addr("203.0.113.1"))),
              HasSubstr("denied by deny_cidrs entry 203.0.113.0/24"));
  ASSERT_EQ(policy.operator_deny().size(), 1u);
  absl::StatusOr<DestinationPolicy> bad = DestinationPolicy::Create({}, {"10.0.0.1/8"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("deny_cidrs entry 1"));
}

TEST(CidrTest, WithinComparesAcrossMappedForms) {
  auto c = [](const char* t) { return *Cidr::Parse(t); };
  EXPECT_TRUE(c("10.1.0.0/16").Within(c("10.0.0.0/8")));
  EXPECT_TRUE(c("10.0.0.0/8").Within(c("10.0.0.0/8")));
  EXPECT_FALSE(c("10.0.0.0/8").Within(c("10.1.0.0/16")));
  EXPECT_TRUE(c("::ffff:10.1.0.0/112").Within(c("10.0.0.0/8")));
  EXPECT_TRUE(c("10.1.0.0/16").Within(c("::ffff:0:0/96")));
  EXPECT_FALSE(c("::/0").Within(c("127.0.0.0/8")));
  EXPECT_TRUE(c("127.0.0.0/8").Within(c("::/0")));
}

TEST(SelfAddressesTest, RefusesOwnPortsOnLoopbackAndInterfaces) {
  SelfAddresses self;
  ASSERT_TRUE(self.Set({"0.0.0.0:50051", "127.0.0.1:9464"}).ok());
  EXPECT_TRUE(self.Contains(Sa(Addr("127.0.0.1", 50051))));
  EXPECT_TRUE(self.Contains(Sa(Addr("127.3.4.5", 50051))));  // all of 127/8 is this host
  EXPECT_TRUE(self.Contains(Sa(Addr("::1", 50051))));
  EXPECT_TRUE(self.Contains(Sa(Addr("::ffff:127.0.0.1", 50051))));
  EXPECT_TRUE(self.Contains(Sa(Addr("127.0.0.1", 9464))));
  EXPECT_FALSE(self.Contains(Sa(Addr("127.0.0.1", 8080))));
  EXPECT_FALSE(self.Contains(Sa(Addr("8.8.8.8", 50051))));
  EXPECT_THAT(self.Explain(Sa(Addr("127.0.0.1", 50051))),
              HasSubstr("fetchpool's own listening address (0.0.0.0:50051)"));
  // Replaced, not added to.
  ASSERT_TRUE(self.Set({"[::1]:7000"}).ok());
  EXPECT_FALSE(self.Contains(Sa(Addr("127.0.0.1", 50051))));
  EXPECT_TRUE(self.Contains(Sa(Addr("::1", 7000))));
  EXPECT_FALSE(self.Set({"nonsense"}).ok());
}

}  // namespace fetchpool
