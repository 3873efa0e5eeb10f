// The certificate layer against OpenSSL's own verifier: what a CA issues
// verifies, what it revokes is refused with the CRL loaded, and CheckIdentity
// refuses each kind of bad identity with a one-line message.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <openssl/dh.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "deltaswarm/tls.h"
#include "test_util.h"
#include "tls/openssl_util.h"

using namespace deltaswarm;
using deltaswarm::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::string InitCa(const TempDir& tmp, const std::string& name) {
  CaInitOptions options;
  options.dir = tmp / name;
  options.name = name + " CA";
  Status s = InitCertificateAuthority(options);
  REQUIRE_MESSAGE(s.ok(), s.message());
  return options.dir;
}

IssuedCertificate Issue(const std::string& ca_dir, const std::string& out, std::vector<std::string> hosts = {},
                        int64_t backdate_s = 0, int days = 365) {
  IssueOptions options;
  options.ca_dir = ca_dir;
  options.name = "node-1";
  options.out = out;
  options.hosts = std::move(hosts);
  options.backdate_s = backdate_s;
  options.days = days;
  auto issued = IssueCertificate(options);
  REQUIRE_MESSAGE(issued.ok(), issued.status().message());
  return *issued;
}

tls::X509Ptr Cert(const std::string& path) {
  auto cert = tls::LoadCertificate(path);
  REQUIRE_MESSAGE(cert.ok(), cert.status().message());
  return std::move(cert).value();
}

tls::X509CrlPtr Crl(const std::string& path) {
  auto crl = tls::LoadCrl(path);
  REQUIRE_MESSAGE(crl.ok(), crl.status().message());
  return std::move(crl).value();
}

// X509_verify_cert's error for cert against ca (X509_V_OK when it verifies),
// with the CRL checked when one is given.
int VerifyError(const std::string& cert_path, const std::string& ca_dir, bool check_crl) {
  tls::X509Ptr cert = Cert(cert_path);
  tls::X509Ptr ca = Cert(CaCertPath(ca_dir));
  tls::X509StorePtr store(X509_STORE_new());
  REQUIRE(X509_STORE_add_cert(store.get(), ca.get()) == 1);
  if (check_crl) {
    tls::X509CrlPtr crl = Crl(CrlPath(ca_dir));
    REQUIRE(X509_STORE_add_crl(store.get(), crl.get()) == 1);
    X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK);
  }
  tls::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) == 1);
  int ok = X509_verify_cert(ctx.get());
  int error = X509_STORE_CTX_get_error(ctx.get());
  CHECK((ok == 1) == (error == X509_V_OK));
  return error;
}

// "DNS:name" / "IP:address" for every subjectAltName of cert.
std::vector<std::string> AltNames(X509* cert) {
  std::vector<std::string> out;
  tls::GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type == GEN_DNS) {
      const ASN1_STRING* s = name->d.dNSName;
      out.push_back("DNS:" + std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                         static_cast<size_t>(ASN1_STRING_length(s))));
    } else if (name->type == GEN_IPADD) {
      const ASN1_STRING* s = name->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {};
      inet_ntop(ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), text, sizeof text);
      out.push_back(std::string("IP:") + text);
    }
  }
  return out;
}

// Entries of a CRL (OpenSSL keeps no stack at all for an empty one).
int RevokedCount(const std::string& crl_path) {
  tls::X509CrlPtr crl = Crl(crl_path);
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(crl.get());
  return entries ? sk_X509_REVOKED_num(entries) : 0;
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

bool NoTempLeftIn(const std::string& dir) {
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return false;
  return true;
}

}  // namespace

TEST_CASE("ca init writes a CA certificate, a 0600 key and an empty CRL that runs until the CA expires") {
  TempDir tmp;
  std::string ca_dir = InitCa(tmp, "cluster");
  CHECK(ModeOf(CaKeyPath(ca_dir)) == 0600);
  CHECK(ModeOf(ca_dir) == 0700);
  tls::X509Ptr ca = Cert(CaCertPath(ca_dir));
  CHECK(X509_check_ca(ca.get()) == 1);
  CHECK((X509_get_key_usage(ca.get()) & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
  CHECK(X509_get0_subject_key_id(ca.get()) != nullptr);
  CHECK(X509_get_signature_nid(ca.get()) == NID_ecdsa_with_SHA256);
  tls::PkeyPtr ca_key(X509_get_pubkey(ca.get()));
  CHECK(EVP_PKEY_is_a(ca_key.get(), "EC"));

  tls::X509CrlPtr crl = Crl(CrlPath(ca_dir));
  CHECK(X509_CRL_get_version(crl.get()) == X509_CRL_VERSION_2);
  CHECK(RevokedCount(CrlPath(ca_dir)) == 0);
  CHECK(X509_CRL_verify(crl.get(), ca_key.get()) == 1);
  CHECK(ASN1_TIME_compare(X509_CRL_get0_nextUpdate(crl.get()), X509_get0_notAfter(ca.get())) == 0);
  CHECK(NoTempLeftIn(ca_dir));

  auto info = InspectCertificate(CaCertPath(ca_dir));
  REQUIRE(info.ok());
  CHECK(info->subject == "cluster CA");
}

TEST_CASE("an issued certificate verifies against its CA and names * and its hosts") {
  TempDir tmp;
  std::string ca_dir = InitCa(tmp, "cluster");
  IssuedCertificate issued = Issue(ca_dir, tmp / "certs/node.pem", {"10.0.0.7", "fd00::7", "node-1.lan"});
  CHECK(issued.cert_path == tmp / "certs/node.pem");
  CHECK(issued.key_path == tmp / "certs/node.key");
  CHECK(KeyPathFor(issued.cert_path) == issued.key_path);
  CHECK(KeyPathFor("node.crt") == "node.crt.key");
  CHECK(ModeOf(issued.key_path) == 0600);
  CHECK(VerifyError(issued.cert_path, ca_dir, false) == X509_V_OK);

  tls::X509Ptr cert = Cert(issued.cert_path);
  std::vector<std::string> names = AltNames(cert.get());
  std::vector<std::string> expected = {"DNS:*", "IP:10.0.0.7", "IP:fd00::7", "DNS:node-1.lan"};
  CHECK(names == expected);
  CHECK(X509_check_ca(cert.get()) == 0);
  CHECK((X509_get_extended_key_usage(cert.get()) & (XKU_SSL_SERVER | XKU_SSL_CLIENT)) ==
        (XKU_SSL_SERVER | XKU_SSL_CLIENT));
  CHECK((X509_get_key_usage(cert.get()) & KU_DIGITAL_SIGNATURE) != 0);
  CHECK(X509_get0_authority_key_id(cert.get()) != nullptr);
  CHECK(X509_get_signature_nid(cert.get()) == NID_ecdsa_with_SHA256);
  tls::BignumPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  CHECK(BN_num_bits(serial.get()) == 128);
  CHECK(!BN_is_negative(serial.get()));

  auto info = CheckIdentity({issued.cert_path, issued.key_path, CaCertPath(ca_dir)});
  REQUIRE_MESSAGE(info.ok(), info.status().message());
  CHECK(info->subject == "node-1");
  CHECK(info->serial_hex == issued.serial_hex);
  CHECK(info->not_after - info->not_before >= 365 * 86400);
}

TEST_CASE("with the CRL checked, a certificate verifies until it is revoked") {
  TempDir tmp;
  std::string ca_dir = InitCa(tmp, "cluster");
  IssuedCertificate a = Issue(ca_dir, tmp / "a.pem");
  IssuedCertificate b = Issue(ca_dir, tmp / "b.pem");
  CHECK(VerifyError(a.cert_path, ca_dir, true) == X509_V_OK);

  REQUIRE(RevokeCertificate(ca_dir, a.cert_path).ok());
  CHECK(VerifyError(a.cert_path, ca_dir, true) == X509_V_ERR_CERT_REVOKED);
  CHECK(VerifyError(b.cert_path, ca_dir, true) == X509_V_OK);
  CHECK(VerifyError(a.cert_path, ca_dir, false) == X509_V_OK);  // without the CRL nothing changed

  // Revoking twice is not an error and lists it once; a second revocation keeps the first.
  REQUIRE(RevokeCertificate(ca_dir, a.cert_path).ok());
  CHECK(RevokedCount(CrlPath(ca_dir)) == 1);
  REQUIRE(RevokeCertificate(ca_dir, b.cert_path).ok());
  CHECK(RevokedCount(CrlPath(ca_dir)) == 2);
  CHECK(VerifyError(a.cert_path, ca_dir, true) == X509_V_ERR_CERT_REVOKED);
  CHECK(VerifyError(b.cert_path, ca_dir, true) == X509_V_ERR_CERT_REVOKED);
  CHECK(NoTempLeftIn(ca_dir));

  // A certificate of another CA cannot be revoked here.
  std::string other = InitCa(tmp, "other");
  IssuedCertificate stranger = Issue(other, tmp / "stranger.pem");
  Status s = RevokeCertificate(ca_dir, stranger.cert_path);
  CHECK(s.code() == Code::kMismatch);
  CHECK(s.message() == stranger.cert_path + ": not issued by " + CaCertPath(ca_dir));
}

TEST_CASE("CheckIdentity refuses a stranger's, an expired, a mismatched and a half identity") {
  TempDir tmp;
  std::string ca_dir = InitCa(tmp, "cluster");
  std::string other_dir = InitCa(tmp, "other");
  IssuedCertificate mine = Issue(ca_dir, tmp / "mine.pem");
  IssuedCertificate stranger = Issue(other_dir, tmp / "stranger.pem");

  auto foreign = CheckIdentity({stranger.cert_path, stranger.key_path, CaCertPath(ca_dir)});
  CHECK(foreign.status().code() == Code::kMismatch);
  CHECK(foreign.status().message() == stranger.cert_path + ": not issued by " + CaCertPath(ca_dir));
  CHECK(CheckIdentity({stranger.cert_path, stranger.key_path, ""}).ok());  // no CA given: not checked
  CHECK(VerifyError(stranger.cert_path, ca_dir, false) != X509_V_OK);

  IssuedCertificate expired = Issue(ca_dir, tmp / "expired.pem", {}, /*backdate_s=*/2 * 86400, /*days=*/1);
  auto old = CheckIdentity({expired.cert_path, expired.key_path, CaCertPath(ca_dir)});
  CHECK(old.status().code() == Code::kInvalidArgument);
  CHECK(old.status().message().find(expired.cert_path + ": certificate expired on ") == 0);
  CHECK(old.status().message().find(" UTC") != std::string::npos);

  auto mismatched = CheckIdentity({mine.cert_path, stranger.key_path, CaCertPath(ca_dir)});
  CHECK(mismatched.status().code() == Code::kMismatch);
  CHECK(mismatched.status().message() == stranger.key_path + ": not the key of " + mine.cert_path);

  auto half = CheckIdentity({mine.cert_path, "", CaCertPath(ca_dir)});
  CHECK(half.status().code() == Code::kInvalidArgument);
  CHECK(half.status().message() == "tls: cert and key go together");
  CHECK(CheckIdentity({"", mine.key_path, ""}).status().message() == "tls: cert and key go together");

  auto missing = CheckIdentity({tmp / "none.pem", tmp / "none.key", ""});
  CHECK(missing.status().code() == Code::kNotFound);
  auto not_pem = CheckIdentity({mine.key_path, mine.key_path, ""});
  CHECK(not_pem.status().message() == mine.key_path + ": not a PEM certificate");
}

TEST_CASE("existing outputs are refused without force and replaced with it") {
  TempDir tmp;
  std::string ca_dir = InitCa(tmp, "cluster");
  std::string old_ca = testing::ReadFileText(CaCertPath(ca_dir));
  CaInitOptions again;
  again.dir = ca_dir;
  Status s = InitCertificateAuthority(again);
  CHECK(s.code() == Code::kAlreadyExists);
  CHECK(s.message() == CaKeyPath(ca_dir) + ": already exists (use --force to replace it)");
  CHECK(testing::ReadFileText(CaCertPath(ca_dir)) == old_ca);

  IssuedCertificate first = Issue(ca_dir, tmp / "node.pem");
  IssueOptions options;
  options.ca_dir = ca_dir;
  options.name = "node-1";
  options.out = first.cert_path;
  auto refused = IssueCertificate(options);
  CHECK(refused.status().code() == Code::kAlreadyExists);
  options.force = true;
  auto replaced = IssueCertificate(options);
  REQUIRE_MESSAGE(replaced.ok(), replaced.status().message());
  CHECK(replaced->serial_hex != first.serial_hex);
  CHECK(ModeOf(replaced->key_path) == 0600);
  CHECK(CheckIdentity({replaced->cert_path, replaced->key_path, CaCertPath(ca_dir)}).ok());
  CHECK(NoTempLeftIn(tmp.path()));

  again.force = true;
  REQUIRE(InitCertificateAuthority(again).ok());
  CHECK(testing::ReadFileText(CaCertPath(ca_dir)) != old_ca);
  // The new CA did not issue the old certificate.
  CHECK(CheckIdentity({replaced->cert_path, replaced->key_path, CaCertPath(ca_dir)}).status().code() ==
        Code::kMismatch);
}

TEST_CASE("bad issue options are refused before anything is written") {
  TempDir tmp;
  std::string ca_dir = InitCa(tmp, "cluster");
  IssueOptions options;
  options.ca_dir = ca_dir;
  options.name = "node-1";
  options.out = tmp / "node.pem";
  options.hosts = {"bad host,DNS:evil"};
  CHECK(IssueCertificate(options).status().code() == Code::kInvalidArgument);
  options.hosts = {};
  options.days = 0;
  CHECK(IssueCertificate(options).status().code() == Code::kInvalidArgument);
  options.days = 1;
  options.ca_dir = tmp / "no-ca";
  CHECK(IssueCertificate(options).status().code() == Code::kNotFound);
  CHECK(!fs::exists(tmp / "node.pem"));
  CHECK(!fs::exists(tmp / "node.key"));
}

// Deprecated in OpenSSL 3 but exactly what boost::asio's use_tmp_dh (and so
// libtorrent) calls.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
TEST_CASE("Ffdhe2048Pem is RFC 7919's ffdhe2048 and loads as tmp DH parameters") {
  const std::string& pem = Ffdhe2048Pem();
  CHECK(pem.rfind("-----BEGIN DH PARAMETERS-----\n", 0) == 0);
  tls::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  DH* dh = PEM_read_bio_DHparams(bio.get(), nullptr, nullptr, nullptr);
  REQUIRE(dh != nullptr);
  CHECK(DH_bits(dh) == 2048);
  CHECK(BN_is_word(DH_get0_g(dh), 2));

  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  REQUIRE(ctx != nullptr);
  CHECK(SSL_CTX_set_tmp_dh(ctx, dh) == 1);
  SSL_CTX_free(ctx);

  // The same group OpenSSL knows by name.
  tls::PkeyCtxPtr gen(EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr));
  REQUIRE(gen);
  REQUIRE(EVP_PKEY_paramgen_init(gen.get()) == 1);
  char group[] = "ffdhe2048";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("group", group, 0), OSSL_PARAM_construct_end()};
  REQUIRE(EVP_PKEY_CTX_set_params(gen.get(), params) == 1);
  EVP_PKEY* named = nullptr;
  REQUIRE(EVP_PKEY_paramgen(gen.get(), &named) == 1);
  tls::PkeyPtr named_owner(named);
  tls::PkeyPtr ours(EVP_PKEY_new());
  REQUIRE(EVP_PKEY_set1_DH(ours.get(), dh) == 1);
  CHECK(EVP_PKEY_parameters_eq(ours.get(), named) == 1);
  DH_free(dh);
}
#pragma GCC diagnostic pop
