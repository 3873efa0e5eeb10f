// The swarm layer: BitTorrent v2 torrents of a version's artifact directory
// (index.dsi + chunk-*.dsc) and one libtorrent session per process that seeds
// and downloads them among nodes, with the bucket (nginx) as optional web seed.
// This header includes no libtorrent header; src/swarm/ is the only place that
// touches libtorrent, and every libtorrent exception or error_code is turned
// into a Status there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "deltaswarm/status.h"
#include "deltaswarm/stop_signal.h"
#include "deltaswarm/tls.h"

namespace deltaswarm {

// A .torrent file (bencoded) and the facts a caller records about it.
struct TorrentFile {
  std::vector<std::byte> bytes;
  std::string info_hash_v2_hex;  // SHA-256 of the info dict, 64 lowercase hex digits
  std::string info_hash_v1_hex;  // SHA-1 of the info dict, 40 lowercase hex digits (hybrid torrents)
  uint64_t piece_bytes = 0;
  uint64_t payload_bytes = 0;    // sum of the real files' sizes (no pad files)
};

// Piece size for total_bytes of payload: below 1 GiB the largest power of two
// <= total_bytes / 1024, at least 16 KiB (libtorrent's minimum), so that even a
// small delta has enough pieces for nodes to pipeline; 1 MiB up to 64 GiB;
// then doubled so that there are at most 65536 pieces (a 4 TB keyframe gets
// 64 MiB pieces and its piece layers stay at about 2 MB).
uint64_t PieceSizeFor(uint64_t total_bytes);

// Who may join a torrent's swarm. With ca_cert_pem the torrent is a TLS
// torrent (libtorrent's SSL torrents, the CA certificate in the info dict):
// only peers presenting a certificate that CA issued can connect, and the
// info-hash, recorded in the signed manifest, binds the swarm to that CA.
// crl_pem, the CA's revocation list when the torrent was made, is stored in
// the info dict too ("deltaswarm-crl"); every session of ours that adds the
// torrent refuses the certificates it lists (docs/SECURITY.md).
struct TorrentAccess {
  std::string ca_cert_pem;  // empty: an open torrent, any peer may join
  std::string crl_pem;      // empty: no revocation list (only with ca_cert_pem)
};

// Builds a hybrid (v1 + v2) BitTorrent torrent of every regular file directly
// in dir (subdirectories and symlinks are not included), creator
// "deltaswarm", piece size PieceSizeFor(total), hashing the files now. Hybrid
// rather than v2-only because libtorrent 2.0.8 corrupts its heap when a v2-only
// piece fails its hash check (torrent_maker.cc says why).
//
// The torrent's name is `name`, and libtorrent fetches a file from a web seed
// (BEP 19) at `<web seed url><name>/<file>`. So for a version's artifact dir in
// the bucket, <model>/versions/<id>/<delta|keyframe>/, pass name = "delta" (or
// "keyframe", the dir's basename) and web seed "http://host/prefix/<model>/versions/<id>/"
// (ending in '/'): requests then land on the bucket's objects. web_seeds may be
// empty; they are stored in the torrent, so every node that adds it uses them.
// Errors: kNotFound (dir missing), kInvalidArgument (no files, bad name, a
// CRL without a CA), kIoError (a read failed while hashing).
Result<TorrentFile> MakeTorrent(const std::string& dir, const std::string& name,
                                const std::vector<std::string>& web_seeds, const TorrentAccess& access = {});

// A session's disk threads (SwarmOptions). libtorrent 2.0.8 defaults to 10
// and 1. The aio threads read and write pieces and hash each downloaded one
// (twice: SHA-1 and SHA-256 of a hybrid torrent); 4 keep a 10 Gbit/s download
// fed with cores to spare for the apply that follows. The hashing threads
// re-check files already on disk (a resumed download); 2 halve that for a
// multi-GB keyframe. Tests that run many sessions in one process use 2 and 1.
inline constexpr int kDefaultAioThreads = 4;
inline constexpr int kDefaultHashingThreads = 2;
inline constexpr int kMaxSwarmThreads = 64;  // per kind; Start refuses more

struct SwarmOptions {
  // "ip:port" to listen on (TCP); port 0 picks a free port, see listen_port().
  std::string listen = "127.0.0.1:0";
  // Bytes/s, 0 = unlimited. They also hold for loopback and LAN peers, which
  // libtorrent would otherwise leave unlimited.
  int upload_rate = 0;
  int download_rate = 0;
  // "ip:port" or "[v6]:port" endpoints every added torrent starts with (at most
  // kMaxPeers); peer exchange (pex) finds the rest of the swarm.
  std::vector<std::string> peers;
  bool pex = true;
  // Tracker announce URLs added to every torrent.
  std::vector<std::string> trackers;
  // libtorrent's tick: rate-limit quota is refilled once per tick, so a short
  // tick starts limited transfers sooner.
  int tick_interval_ms = 20;
  // Use the web seeds written into torrents. false: a download uses a web seed
  // only once AddWebSeed adds it (the bucket as a fallback, not a peer).
  bool torrent_web_seeds = true;
  // Seeds of this session hand each connected node only its own share of
  // pieces (a few pieces out at a time, as many as keep the seed's upload
  // busy; re-offered when a node leaves or shows no activity), so each piece
  // leaves the seed about once and nodes trade the rest
  // (include/deltaswarm/share_scheduler.h). For the publisher's or a
  // gateway's seed; nodes need nothing set.
  bool share_seed = false;
  int share_max_in_flight = 0;  // a cap on the pieces out at a time (0: as the scheduler finds)
  // Disk threads, each 1..kMaxSwarmThreads (see kDefaultAioThreads).
  int aio_threads = kDefaultAioThreads;
  int hashing_threads = kDefaultHashingThreads;
  // A closed swarm: with tls.cert and tls.key (a certificate the cluster CA
  // issued) the session listens for TLS peers only (libtorrent's SSL
  // socket, on `listen`) and joins TLS torrents, presenting that certificate;
  // without them, adding a TLS torrent fails with kInvalidArgument. Start
  // refuses an expired or unreadable certificate.
  TlsIdentity tls;
};

// A torrent within one Swarm. 0 is never a valid id.
struct TorrentId {
  uint64_t value = 0;
  friend bool operator==(TorrentId, TorrentId) = default;
};

struct TorrentStatus {
  uint64_t total_wanted = 0;  // bytes this node wants (all, for a download)
  uint64_t total_done = 0;    // of those, bytes it has and verified
  uint64_t payload_download_rate = 0;  // bytes/s
  uint64_t payload_upload_rate = 0;
  uint64_t all_time_upload = 0;  // payload bytes, this session
  uint64_t all_time_download = 0;
  int peers = 0;          // connected peers (web seeds included)
  int hash_failures = 0;  // pieces that failed their hash check (peers that sent them get banned)
  bool finished = false;  // every wanted byte is here and verified
  bool seeding = false;
  std::string error;      // empty, or the torrent's error ("chunk-000003.dsc: No space left on device")
};

// A session's life so far, over every torrent it held (removed ones included):
// what a metrics endpoint reads per scrape.
struct SwarmTotals {
  uint64_t uploaded_bytes = 0;    // payload
  uint64_t downloaded_bytes = 0;  // payload (peers and web seeds)
  uint64_t hash_failures = 0;     // pieces that failed their hash check
  uint64_t banned_peers = 0;      // peers libtorrent banned for sending corrupt pieces
  int peers = 0;                  // connections now, summed over the torrents held
};

// One libtorrent session: listens on one TCP port, seeds and downloads any
// number of torrents. DHT, local discovery, UPnP, NAT-PMP and uTP are off.
// Thread-safe: every method may be called from any thread; they serialise on
// an internal mutex, which WaitFinished and WaitForChange release while they
// wait. Waits are event-driven: libtorrent's alert notification (a torrent
// finished or failed, a piece passed its check, a state changed) wakes them,
// as do a stop request and their deadline; nothing polls. Not copyable. The
// destructor shuts the session down (connections closed, files flushed).
class Swarm {
 public:
  static constexpr size_t kMaxPeers = 200;

  // Starts the session and waits (bounded, 10 s) until it listens.
  // kInvalidArgument for bad options, kIoError if it cannot listen.
  static Result<std::unique_ptr<Swarm>> Start(const SwarmOptions& options);
  ~Swarm();
  Swarm(const Swarm&) = delete;
  Swarm& operator=(const Swarm&) = delete;

  // The TCP port actually listened on (the one picked when options.listen had port 0).
  int listen_port() const;
  // "ip:port" peers can connect to.
  std::string endpoint() const;

  // Ok if this session can join the torrent's swarm; else what AddSeed and
  // AddDownload would say (kInvalidArgument: a TLS torrent and no
  // certificate, or an open torrent in a TLS-only session). For roles that
  // check before a long download.
  Status CheckAdmission(std::span<const std::byte> torrent) const;
  // Seeds torrent from files already complete under save_path (the torrent's
  // files are at save_path/<name>/<file>), without checking them first.
  // kCorruption for a malformed torrent; kAlreadyExists if it is already added.
  Result<TorrentId> AddSeed(std::span<const std::byte> torrent, const std::string& save_path);
  // Downloads torrent into save_path/<name>/. Pieces already on disk (an
  // interrupted download) are checked and kept. web_seeds (may be empty) are
  // added to those in the torrent, for this node only.
  Result<TorrentId> AddDownload(std::span<const std::byte> torrent, const std::string& save_path,
                                const std::vector<std::string>& web_seeds);

  // Connects to more peers ("ip:port"); kInvalidArgument for a bad endpoint or
  // more than kMaxPeers, kNotFound for an unknown id.
  Status AddPeers(TorrentId id, const std::vector<std::string>& endpoints);
  Status AddWebSeed(TorrentId id, const std::string& url);
  // Stops using a web seed (e.g. so this node spares the Hub).
  Status RemoveWebSeed(TorrentId id, const std::string& url);

  // A snapshot; an unknown id gives error "unknown torrent".
  TorrentStatus GetStatus(TorrentId id);
  // Waits until the torrent is finished (Ok), it reports an error (kIoError
  // with its message) or timeout_s passes (kCancelled, with progress so far).
  // on_progress (may be empty) is called about every 100 ms, without the lock.
  Status WaitFinished(TorrentId id, double timeout_s,
                      const std::function<void(const TorrentStatus&)>& on_progress);

  // For a caller's own wait loop: take alert_count = AlertCount() before
  // looking (GetStatus), then WaitForChange(alert_count, ...) returns once
  // this session raised alerts after that count was taken (something may
  // have changed: look again), once *stop (may be null) is requested, or at
  // deadline, whichever comes first. May return early; nothing is missed.
  uint64_t AlertCount() const;
  void WaitForChange(uint64_t alert_count, SteadyClock::time_point deadline, const StopSignal* stop = nullptr);

  // Payload bytes this session has uploaded, over all its torrents.
  uint64_t UploadedBytes();
  SwarmTotals Totals();
  // Stops the torrent and forgets it; its files stay on disk. Unknown ids are ignored.
  void Remove(TorrentId id);

 private:
  struct Impl;
  explicit Swarm(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deltaswarm
