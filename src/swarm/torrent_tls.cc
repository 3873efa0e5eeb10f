#include "swarm/torrent_tls.h"

// torrent.hpp is libtorrent's internal torrent object: the only way to reach a
// torrent's SSL context, which the public API exposes to nobody.
#include <libtorrent/bdecode.hpp>
#include <libtorrent/torrent.hpp>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <memory>

#include "deltaswarm/tls.h"

namespace deltaswarm {

namespace {

constexpr char kCrlKey[] = "deltaswarm-crl";  // written by MakeTorrent

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct CrlFree {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};

}  // namespace

Result<std::string> TorrentRevocationList(const lt::torrent_info& ti) {
  const lt::span<const char> info = ti.info_section();
  lt::error_code ec;
  const lt::bdecode_node dict = lt::bdecode(info, ec);
  if (ec || dict.type() != lt::bdecode_node::dict_t)
    return Corruption("torrent " + ti.name() + ": info dict: " + ec.message());
  const lt::bdecode_node crl = dict.dict_find_string(kCrlKey);
  if (!crl) return std::string();
  if (ti.ssl_cert().empty()) return Corruption("torrent " + ti.name() + ": a revocation list without a CA");
  return std::string(crl.string_value());
}

Status ArmTorrentTls(lt::torrent_handle handle, const TlsCredentials& credentials,
                     const std::string& crl_pem) {
  if (!crl_pem.empty()) {
    const std::shared_ptr<lt::torrent> torrent = handle.native_handle();
    lt::ssl::context* context = torrent ? torrent->ssl_ctx() : nullptr;
    if (context == nullptr) return Corruption("torrent: no TLS context to load the revocation list into");
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(crl_pem.data(), static_cast<int>(crl_pem.size())));
    std::unique_ptr<X509_CRL, CrlFree> crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
    if (!crl) return Corruption("torrent: its revocation list is not a PEM CRL");
    SSL_CTX* ssl = context->native_handle();
    X509_STORE* store = SSL_CTX_get_cert_store(ssl);
    // The store locks itself; the flags are read by handshakes, and none can
    // succeed before set_ssl_certificate_buffer below.
    if (X509_STORE_add_crl(store, crl.get()) != 1) return Corruption("torrent: revocation list refused by OpenSSL");
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ssl), X509_V_FLAG_CRL_CHECK);
  }
  handle.set_ssl_certificate_buffer(credentials.cert_pem, credentials.key_pem, Ffdhe2048Pem());
  return Status::Ok();
}

}  // namespace deltaswarm
