// The TLS side of a TLS torrent (libtorrent's SSL torrents): reading what the
// torrent demands, and arming the torrent's TLS context with this node's
// certificate and the torrent's revocation list.
#pragma once

#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>

#include <string>

#include "deltaswarm/status.h"

namespace deltaswarm {

// The revocation list stored in a TLS torrent's info dict (may be empty).
Result<std::string> TorrentRevocationList(const lt::torrent_info& ti);

// This node's certificate and key, as PEM text, for every TLS torrent it adds.
struct TlsCredentials {
  std::string cert_pem;
  std::string key_pem;
};

// Call on torrent_need_cert_alert, i.e. once libtorrent made the torrent's
// TLS context. Loads crl_pem (if any) into the context's trust store with CRL
// checking, then sets the certificate. No handshake can succeed before the
// certificate is set, so none escapes the revocation list.
Status ArmTorrentTls(lt::torrent_handle handle, const TlsCredentials& credentials,
                     const std::string& crl_pem);

}  // namespace deltaswarm
