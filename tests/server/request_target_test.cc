// parse_request_target: the routes, the id rule after percent-decoding, and ?since=.
#include "server/request_target.h"

#include <gtest/gtest.h>

#include <string>

namespace amstore {
namespace {

const std::string kH1(64, 'a'), kH2 = std::string(63, '0') + "F";

RequestTarget ok(std::string_view target, bool read_since = true) {
  RequestTarget t;
  std::optional<TargetError> e = parse_request_target(target, read_since, &t);
  EXPECT_FALSE(e) << target << ": " << (e ? e->message : "");
  return t;
}

TargetError refused(std::string_view target, bool read_since = true) {
  RequestTarget t;
  std::optional<TargetError> e = parse_request_target(target, read_since, &t);
  EXPECT_TRUE(e) << target << " was accepted";
  return e ? *e : TargetError{0, "", ""};
}

TEST(RequestTarget, Routes) {
  EXPECT_EQ(ok("/metrics").kind, RequestTarget::Kind::kMetrics);
  RequestTarget d = ok("/my-doc");
  EXPECT_EQ(d.kind, RequestTarget::Kind::kDocument);
  EXPECT_EQ(d.id, "my-doc");
  EXPECT_FALSE(d.has_since);
  RequestTarget j = ok("/my.doc_2/json");
  EXPECT_EQ(j.kind, RequestTarget::Kind::kJson);
  EXPECT_EQ(j.id, "my.doc_2");
  for (const char* t : {"/x/other", "/x/json/", "/x/", "/x//json"}) {
    TargetError e = refused(t);
    EXPECT_EQ(e.status, 404u) << t;
    EXPECT_EQ(e.route, "other") << t;
  }
  for (const char* t : {"", "x", "?since=", "http://host/x"}) {
    TargetError e = refused(t);
    EXPECT_EQ(e.status, 400u) << t;
    EXPECT_EQ(e.message, "bad request target") << t;
  }
}

TEST(RequestTarget, IdIsDecodedThenChecked) {
  EXPECT_EQ(ok("/doc%2D1").id, "doc-1");
  EXPECT_EQ(ok("/" + std::string(200, 'x')).id, std::string(200, 'x'));
  for (std::string t : {"/", "/..%2F..%2Fetc%2Fpasswd", "/%2E%2E", "/a%2Fb", "/%00", "/a%00b",
                        "/.hidden", "/..", "/sp%20ace", "/caf%C3%A9", "/metrics%2Fx"}) {
    TargetError e = refused(t);
    EXPECT_EQ(e.status, 400u) << t;
    EXPECT_EQ(e.route, "doc") << t;
    EXPECT_NE(e.message.find("invalid document id"), std::string::npos) << t;
  }
  EXPECT_EQ(refused("/" + std::string(201, 'x')).status, 400u);
  for (const char* t : {"/a%2", "/a%", "/a%zz", "/%g0"})
    EXPECT_EQ(refused(t).message, "malformed percent-escape in id") << t;
}

TEST(RequestTarget, Since) {
  RequestTarget a = ok("/x?since=" + kH1 + "," + kH2);
  EXPECT_TRUE(a.has_since);
  ASSERT_EQ(a.since.size(), 2u);
  EXPECT_EQ(to_hex(a.since[0]), kH1);
  EXPECT_EQ(to_hex(a.since[1]), std::string(63, '0') + "f");
  // Repeated parameters add up, in order; other parameters and empty values are skipped;
  // the value is percent-decoded.
  RequestTarget b = ok("/x?v=1&since=" + kH2 + "&since=&since=" + kH1 + ",,&sincex=zz");
  ASSERT_EQ(b.since.size(), 2u);
  EXPECT_EQ(to_hex(b.since[1]), kH1);
  EXPECT_EQ(ok("/x?since=" + kH1 + "%2C" + kH2).since.size(), 2u);
  // Present but empty: every change.
  for (const char* t : {"/x?since=", "/x?since", "/x?since=,"}) {
    RequestTarget e = ok(t);
    EXPECT_TRUE(e.has_since) << t;
    EXPECT_TRUE(e.since.empty()) << t;
  }
  EXPECT_FALSE(ok("/x?").has_since);
  EXPECT_FALSE(ok("/x?sincex=1").has_since);
  for (std::string t : {std::string("/x?since=zz"), "/x?since=" + kH1 + "0", "/x?since=" + kH1.substr(1),
                        "/x?since=" + kH1 + ";" + kH2}) {
    TargetError e = refused(t);
    EXPECT_EQ(e.status, 400u) << t;
    EXPECT_EQ(e.route, "since") << t;
  }
  EXPECT_EQ(refused("/x?since=%zz").message, "malformed since");
  // Only reads (GET, HEAD) take since; the json route never does.
  EXPECT_FALSE(ok("/x?since=zz", false).has_since);
  EXPECT_EQ(ok("/x/json?since=zz").kind, RequestTarget::Kind::kJson);
}

TEST(RequestTarget, PercentDecode) {
  std::string out;
  EXPECT_TRUE(percent_decode("a%41%62c", &out));
  EXPECT_EQ(out, "aAbc");
  EXPECT_TRUE(percent_decode("", &out));
  EXPECT_EQ(out, "");
  EXPECT_FALSE(percent_decode("%4", &out));
  EXPECT_FALSE(percent_decode("%4g", &out));
}

}  // namespace
}  // namespace amstore
