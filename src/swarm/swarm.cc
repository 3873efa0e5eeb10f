// Swarm: one libtorrent session, its torrents by id, and the alerts they raise.
#include "deltaswarm/swarm.h"

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/load_torrent.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>

#include "swarm/lt_errors.h"
#include "swarm/session_config.h"
#include "swarm/share_plugin.h"
#include "swarm/torrent_names.h"
#include "swarm/torrent_tls.h"

namespace deltaswarm {

namespace {

using Clock = std::chrono::steady_clock;

// Limits for reading a .torrent: a multi-TB keyframe of 32 MiB chunks has
// ~100k files, whose file tree alone passes libtorrent's 10 MB default.
lt::load_torrent_limits TorrentLimits() {
  lt::load_torrent_limits limits;
  limits.max_buffer_size = 256 << 20;
  limits.max_decode_tokens = 20000000;
  return limits;
}

std::string FormatBytes(uint64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(n) / 1e6);
  return buf;
}

}  // namespace

struct Swarm::Impl {
  struct Entry {
    lt::torrent_handle handle;
    std::string name;
    int hash_failures = 0;
    std::string error;  // the last torrent or file error alert, if any
    // libtorrent may report every piece passed while their writes are still
    // queued; a cache flush is a fence behind them, so "finished" waits for it.
    bool flush_requested = false;
    bool flushed = false;
    // A TLS torrent gets this node's certificate once libtorrent made its TLS
    // context (torrent_need_cert_alert).
    bool tls = false;
    bool tls_armed = false;
    std::string crl_pem;
  };

  SwarmOptions options;
  std::vector<lt::tcp::endpoint> bootstrap;
  // Wakes waiters. alert_count grows with every notification libtorrent
  // sends (its alert queue stopped being empty) and every pop that found
  // alerts, so that whoever pops, an alert after a waiter's count wakes it.
  // Declared before the session, which calls into them until it is gone.
  std::mutex alert_mu;  // guards alert_count; never held while calling libtorrent
  std::condition_variable alert_cv;
  uint64_t alert_count = 0;
  std::unique_ptr<lt::session> session;
  int port = 0;
  std::string host;  // the listen address, as peers should dial it
  TlsCredentials credentials;  // empty: an open swarm

  std::mutex mu;  // guards everything below and popping alerts
  std::map<uint64_t, Entry> torrents;
  uint64_t next_id = 1;
  SwarmTotals removed;  // what the torrents removed so far had moved (Totals stays monotonic)
  uint64_t banned_peers = 0;

  Entry* Find(TorrentId id) {
    auto it = torrents.find(id.value);
    return it == torrents.end() ? nullptr : &it->second;
  }
  Entry* FindByHandle(const lt::torrent_handle& h) {
    for (auto& [id, e] : torrents)
      if (e.handle == h) return &e;
    return nullptr;
  }

  void CountAlerts() {
    {
      std::lock_guard<std::mutex> lock(alert_mu);
      ++alert_count;
    }
    alert_cv.notify_all();
  }

  // libtorrent's alert notification: it runs on libtorrent's thread, so it
  // only wakes the waiters, which pop the alerts themselves.
  void WatchAlerts() {
    session->set_alert_notify([this] { CountAlerts(); });
  }

  // Sleeps until alert_count passes seen, *stop is requested or deadline.
  // The caller has popped the queue since it took seen: libtorrent notifies
  // only when the queue stops being empty.
  void WaitForAlerts(uint64_t seen, Clock::time_point deadline, const StopSignal* stop) {
    std::optional<StopSignal::Registration> on_stop;
    if (stop) on_stop.emplace(stop->OnStop([this] {
      std::lock_guard<std::mutex> lock(alert_mu);  // so that the waiter is asleep or has not yet looked
      alert_cv.notify_all();
    }));
    std::unique_lock<std::mutex> lock(alert_mu);
    alert_cv.wait_until(lock, deadline, [&] { return alert_count > seen || (stop && stop->requested()); });
  }

  // Pops every queued alert and records what the torrents' status does not
  // carry (hash failures) or carries less clearly (the error's context).
  void PumpLocked() {
    std::vector<lt::alert*> alerts;
    session->pop_alerts(&alerts);
    if (!alerts.empty()) CountAlerts();
    for (lt::alert* a : alerts) {
      if (auto* hf = lt::alert_cast<lt::hash_failed_alert>(a)) {
        if (Entry* e = FindByHandle(hf->handle)) ++e->hash_failures;
      } else if (lt::alert_cast<lt::peer_ban_alert>(a)) {
        ++banned_peers;
      } else if (auto* te = lt::alert_cast<lt::torrent_error_alert>(a)) {
        if (Entry* e = FindByHandle(te->handle)) e->error = te->message();
      } else if (auto* fe = lt::alert_cast<lt::file_error_alert>(a)) {
        if (Entry* e = FindByHandle(fe->handle)) e->error = fe->message();
      } else if (auto* cf = lt::alert_cast<lt::cache_flushed_alert>(a)) {
        if (Entry* e = FindByHandle(cf->handle); e != nullptr && e->flush_requested) e->flushed = true;
      } else if (auto* nc = lt::alert_cast<lt::torrent_need_cert_alert>(a)) {
        if (Entry* e = FindByHandle(nc->handle); e != nullptr && e->tls && !e->tls_armed) {
          const Status armed = ArmTorrentTls(e->handle, credentials, e->crl_pem);
          if (armed.ok()) e->tls_armed = true;
          else e->error = armed.message();
        }
      }
    }
  }

  Result<TorrentId> Add(std::span<const std::byte> torrent, const std::string& save_path, bool seed,
                        const std::vector<std::string>& web_seeds) {
    try {
      lt::add_torrent_params atp = lt::load_torrent_buffer(
          lt::span<const char>(reinterpret_cast<const char*>(torrent.data()),
                               static_cast<std::ptrdiff_t>(torrent.size())),
          TorrentLimits());
      atp.save_path = save_path;
      atp.flags &= ~(lt::torrent_flags::auto_managed | lt::torrent_flags::paused);
      atp.flags |= lt::torrent_flags::duplicate_is_error;
      if (seed) atp.flags |= lt::torrent_flags::seed_mode;  // data known good: no recheck
      if (!options.pex) atp.flags |= lt::torrent_flags::disable_pex;
      if (!seed && !options.torrent_web_seeds && atp.ti) atp.ti->set_web_seeds({});
      if (seed && options.share_seed && atp.ti) {
        ShareSeedOptions share;
        share.max_in_flight = options.share_max_in_flight;
        share.upload_rate = options.upload_rate;
        const int pieces = atp.ti->num_pieces(), piece_bytes = atp.ti->piece_length();
        const int last_piece_bytes = pieces > 0 ? atp.ti->piece_size(lt::piece_index_t(pieces - 1)) : 0;
        atp.extensions.push_back([=](const lt::torrent_handle&, lt::client_data_t) {
          return MakeShareSeedPlugin(pieces, piece_bytes, last_piece_bytes, share);
        });
      } else {
        atp.extensions.push_back([](const lt::torrent_handle&, lt::client_data_t) { return MakeShareNodePlugin(); });
      }
      for (const auto& url : web_seeds) atp.url_seeds.push_back(url);
      for (const auto& url : options.trackers) atp.trackers.push_back(url);
      atp.peers = bootstrap;
      const std::string name = atp.ti ? atp.ti->name() : "?";
      DS_RETURN_IF_ERROR(Admission(atp));
      const bool tls = atp.ti && !atp.ti->ssl_cert().empty();
      std::string crl_pem;
      if (tls) {
        DS_ASSIGN_OR_RETURN(crl_pem, TorrentRevocationList(*atp.ti));
      }

      std::lock_guard<std::mutex> lock(mu);
      lt::error_code ec;
      lt::torrent_handle h = session->add_torrent(std::move(atp), ec);
      if (ec == lt::errors::duplicate_torrent) return AlreadyExists("torrent " + name + ": already added");
      if (ec) return LtErrorStatus("torrent " + name, ec);
      const uint64_t id = next_id++;
      Entry& entry = torrents[id];
      entry.handle = h;
      entry.name = name;
      entry.tls = tls;
      entry.crl_pem = std::move(crl_pem);
      if (tls) DS_RETURN_IF_ERROR(AwaitTlsLocked(entry));
      return TorrentId{id};
    } catch (const std::exception& e) {
      return LtExceptionStatus("torrent", e);
    }
  }

  // Whether this session can join the torrent's swarm: a TLS torrent needs
  // a certificate, and a session with one listens for TLS peers only. And
  // whether its names are safe (no control characters), as a manifest's are.
  Status Admission(const lt::add_torrent_params& atp) const {
    if (atp.ti) {
      DS_RETURN_IF_ERROR(CheckTorrentNames(*atp.ti));
    }
    const std::string name = atp.ti ? atp.ti->name() : "?";
    const bool tls = atp.ti && !atp.ti->ssl_cert().empty();
    if (tls && credentials.cert_pem.empty())
      return InvalidArgument("torrent " + name +
                             ": a closed swarm (TLS torrent) needs this role's cluster certificate "
                             "(tls_cert and tls_key)");
    if (!tls && !credentials.cert_pem.empty())
      return InvalidArgument("torrent " + name +
                             ": an open torrent (no CA certificate in it), but this session runs a closed "
                             "swarm (TLS only)");
    return Status::Ok();
  }

  // A TLS torrent serves and downloads nothing before its certificate is
  // set, so Add returns once it is (bounded: libtorrent asks at once).
  Status AwaitTlsLocked(Entry& entry) {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (!entry.tls_armed && entry.error.empty() && Clock::now() < deadline) {
      session->wait_for_alert(std::chrono::milliseconds(50));
      PumpLocked();
    }
    if (!entry.error.empty()) return IoError("torrent " + entry.name + ": TLS: " + entry.error);
    if (!entry.tls_armed) return IoError("torrent " + entry.name + ": TLS context not ready after 10 s");
    return Status::Ok();
  }

  // The listen socket a session's peers dial: TLS only in a closed swarm.
  lt::socket_type_t ListenSocketType() const {
    return credentials.cert_pem.empty() ? lt::socket_type_t::tcp : lt::socket_type_t::tcp_ssl;
  }

  // After re-applying listen_interfaces: libtorrent reopens the socket on the
  // pinned port; waits (bounded) for that, and reports a failed rebind.
  Status ConfirmListening(const std::string& what) {
    const auto deadline = Clock::now() + std::chrono::seconds(2);
    while (Clock::now() < deadline) {
      session->wait_for_alert(std::chrono::milliseconds(50));
      std::vector<lt::alert*> alerts;
      session->pop_alerts(&alerts);
      for (lt::alert* a : alerts) {
        if (auto* ok = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
          if (ok->socket_type == ListenSocketType() && ok->port == port) return Status::Ok();
        } else if (auto* failed = lt::alert_cast<lt::listen_failed_alert>(a)) {
          if (failed->socket_type == ListenSocketType())
            return IoError("swarm: listen on " + what + ": " + failed->error.message());
        }
      }
    }
    return Status::Ok();  // no news: the socket was kept as it was
  }

  TorrentStatus StatusLocked(TorrentId id) {
    TorrentStatus out;
    Entry* e = Find(id);
    if (e == nullptr) {
      out.error = "unknown torrent";
      return out;
    }
    try {
      lt::torrent_status st = e->handle.status();
      out.total_wanted = static_cast<uint64_t>(st.total_wanted);
      out.total_done = static_cast<uint64_t>(st.total_wanted_done);
      out.payload_download_rate = static_cast<uint64_t>(st.download_payload_rate);
      out.payload_upload_rate = static_cast<uint64_t>(st.upload_payload_rate);
      out.all_time_upload = static_cast<uint64_t>(st.total_payload_upload);
      out.all_time_download = static_cast<uint64_t>(st.total_payload_download);
      out.peers = st.num_peers;
      out.hash_failures = e->hash_failures;
      out.seeding = st.state == lt::torrent_status::seeding;
      const bool checking = st.state == lt::torrent_status::checking_files ||
                            st.state == lt::torrent_status::checking_resume_data;
      out.finished = !checking && (st.is_finished || out.seeding);
      if (out.finished && !e->flushed) {
        if (!e->flush_requested) {
          e->flush_requested = true;
          e->handle.flush_cache();
        }
        out.finished = false;  // not yet: its last writes may still be queued
      }
      if (st.errc) out.error = e->error.empty() ? st.errc.message() : e->error;
    } catch (const std::exception& ex) {
      out.error = LtExceptionStatus("torrent " + e->name, ex).message();
    }
    return out;
  }
};

Swarm::Swarm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Swarm::~Swarm() {
  if (!impl_ || !impl_->session) return;
  std::lock_guard<std::mutex> lock(impl_->mu);
  try {
    impl_->session->set_alert_notify({});  // nobody waits any more
    // abort() starts the shutdown; destroying the proxy waits for it to end.
    lt::session_proxy proxy = impl_->session->abort();
    impl_->session.reset();
  } catch (...) {
    // Nothing useful to report from a destructor.
  }
}

Result<std::unique_ptr<Swarm>> Swarm::Start(const SwarmOptions& options) {
  DS_ASSIGN_OR_RETURN(lt::settings_pack settings, MakeSettings(options));
  DS_ASSIGN_OR_RETURN(lt::tcp::endpoint listen, ParseEndpoint(options.listen, true));
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.tls.has_certificate() || !options.tls.key.empty()) {
    DS_RETURN_IF_ERROR(CheckIdentity(options.tls).status().Prefixed("swarm: tls"));
    DS_ASSIGN_OR_RETURN(impl->credentials.cert_pem, ReadPemFile(options.tls.cert));
    DS_ASSIGN_OR_RETURN(impl->credentials.key_pem, ReadPemFile(options.tls.key));
  }
  for (const auto& p : options.peers) {
    DS_ASSIGN_OR_RETURN(lt::tcp::endpoint ep, ParseEndpoint(p));
    impl->bootstrap.push_back(ep);
  }
  impl->host = listen.address().is_v6() ? "[" + listen.address().to_string() + "]"
                                        : listen.address().to_string();
  try {
    lt::session_params params(std::move(settings));
    impl->session = std::make_unique<lt::session>(std::move(params));
    impl->session->set_peer_class_filter(GlobalPeerClassFilter());
    impl->WatchAlerts();
  } catch (const std::exception& e) {
    return LtExceptionStatus("swarm: starting session", e);
  }
  std::unique_ptr<Swarm> swarm(new Swarm(std::move(impl)));
  Impl& s = *swarm->impl_;

  // The port is known only once the TCP socket is bound (port 0 picks one).
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (s.port == 0 && Clock::now() < deadline) {
    s.session->wait_for_alert(std::chrono::milliseconds(100));
    std::vector<lt::alert*> alerts;
    s.session->pop_alerts(&alerts);
    for (lt::alert* a : alerts) {
      if (auto* ok = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
        if (ok->socket_type == s.ListenSocketType()) s.port = ok->port;
      } else if (auto* failed = lt::alert_cast<lt::listen_failed_alert>(a)) {
        if (failed->socket_type == s.ListenSocketType())
          return IoError("swarm: listen on " + options.listen + ": " + failed->error.message());
      }
    }
  }
  if (s.port == 0) return IoError("swarm: listen on " + options.listen + ": no listen socket after 10 s");
  if (listen.port() == 0) {
    // libtorrent advertises the configured port to peers (the extension
    // handshake's listen port, which peer exchange passes on), so port 0
    // would make this node unreachable through PEX. Pin the port it got.
    try {
      lt::settings_pack pin;
      pin.set_str(lt::settings_pack::listen_interfaces,
                  ListenInterfaces(s.host + ":" + std::to_string(s.port), options));
      s.session->apply_settings(std::move(pin));
    } catch (const std::exception& e) {
      return LtExceptionStatus("swarm: listen on " + options.listen, e);
    }
    DS_RETURN_IF_ERROR(s.ConfirmListening(options.listen));
  }
  return swarm;
}

int Swarm::listen_port() const { return impl_->port; }

std::string Swarm::endpoint() const { return impl_->host + ":" + std::to_string(impl_->port); }

Status Swarm::CheckAdmission(std::span<const std::byte> torrent) const {
  try {
    const lt::add_torrent_params atp = lt::load_torrent_buffer(
        lt::span<const char>(reinterpret_cast<const char*>(torrent.data()),
                             static_cast<std::ptrdiff_t>(torrent.size())),
        TorrentLimits());
    return impl_->Admission(atp);
  } catch (const std::exception& e) {
    return LtExceptionStatus("torrent", e);
  }
}

Result<TorrentId> Swarm::AddSeed(std::span<const std::byte> torrent, const std::string& save_path) {
  return impl_->Add(torrent, save_path, /*seed=*/true, {});
}

Result<TorrentId> Swarm::AddDownload(std::span<const std::byte> torrent, const std::string& save_path,
                                     const std::vector<std::string>& web_seeds) {
  return impl_->Add(torrent, save_path, /*seed=*/false, web_seeds);
}

Status Swarm::AddPeers(TorrentId id, const std::vector<std::string>& endpoints) {
  if (endpoints.size() > kMaxPeers)
    return InvalidArgument("swarm: more than " + std::to_string(kMaxPeers) + " peers at once");
  std::vector<lt::tcp::endpoint> eps;
  for (const auto& p : endpoints) {
    DS_ASSIGN_OR_RETURN(lt::tcp::endpoint ep, ParseEndpoint(p));
    eps.push_back(ep);
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl::Entry* e = impl_->Find(id);
  if (e == nullptr) return NotFound("swarm: unknown torrent");
  try {
    for (const auto& ep : eps) e->handle.connect_peer(ep);
  } catch (const std::exception& ex) {
    return LtExceptionStatus("torrent " + e->name, ex);
  }
  return Status::Ok();
}

Status Swarm::AddWebSeed(TorrentId id, const std::string& url) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl::Entry* e = impl_->Find(id);
  if (e == nullptr) return NotFound("swarm: unknown torrent");
  try {
    e->handle.add_url_seed(url);
  } catch (const std::exception& ex) {
    return LtExceptionStatus("torrent " + e->name, ex);
  }
  return Status::Ok();
}

Status Swarm::RemoveWebSeed(TorrentId id, const std::string& url) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Impl::Entry* e = impl_->Find(id);
  if (e == nullptr) return NotFound("swarm: unknown torrent");
  try {
    e->handle.remove_url_seed(url);
  } catch (const std::exception& ex) {
    return LtExceptionStatus("torrent " + e->name, ex);
  }
  return Status::Ok();
}

TorrentStatus Swarm::GetStatus(TorrentId id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->PumpLocked();
  return impl_->StatusLocked(id);
}

uint64_t Swarm::UploadedBytes() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->PumpLocked();
  uint64_t total = 0;
  for (const auto& [id, entry] : impl_->torrents) total += impl_->StatusLocked(TorrentId{id}).all_time_upload;
  return total;
}

SwarmTotals Swarm::Totals() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->PumpLocked();
  SwarmTotals t = impl_->removed;
  t.banned_peers = impl_->banned_peers;
  for (const auto& [id, entry] : impl_->torrents) {
    TorrentStatus st = impl_->StatusLocked(TorrentId{id});
    t.uploaded_bytes += st.all_time_upload;
    t.downloaded_bytes += st.all_time_download;
    t.hash_failures += static_cast<uint64_t>(st.hash_failures);
    t.peers += st.peers;
  }
  return t;
}

Status Swarm::WaitFinished(TorrentId id, double timeout_s,
                           const std::function<void(const TorrentStatus&)>& on_progress) {
  const auto start = Clock::now();
  const auto deadline = DeadlineAfter(timeout_s, start);
  constexpr auto kProgressInterval = std::chrono::milliseconds(100);
  auto next_progress = start;
  std::string name;
  for (;;) {
    const uint64_t seen = AlertCount();
    TorrentStatus st;
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      impl_->PumpLocked();
      Impl::Entry* e = impl_->Find(id);
      if (e == nullptr) return NotFound("swarm: unknown torrent");
      name = e->name;
      st = impl_->StatusLocked(id);
    }
    const auto now = Clock::now();
    const bool done = st.finished || !st.error.empty();
    if (on_progress && (done || now >= next_progress)) {
      on_progress(st);
      next_progress = now + kProgressInterval;
    }
    if (!st.error.empty()) return IoError("torrent " + name + ": " + st.error);
    if (st.finished) return Status::Ok();
    if (now >= deadline) {
      return Status(Code::kCancelled,
                    "torrent " + name + ": not finished after " + std::to_string(static_cast<int>(timeout_s)) +
                        " s (" + FormatBytes(st.total_done) + " of " + FormatBytes(st.total_wanted) + ", " +
                        std::to_string(st.peers) + " peers)");
    }
    // Finished and errors raise alerts; progress reports need their own time.
    impl_->WaitForAlerts(seen, on_progress ? std::min(deadline, next_progress) : deadline, nullptr);
  }
}

uint64_t Swarm::AlertCount() const {
  std::lock_guard<std::mutex> lock(impl_->alert_mu);
  return impl_->alert_count;
}

void Swarm::WaitForChange(uint64_t alert_count, SteadyClock::time_point deadline, const StopSignal* stop) {
  {
    // A caller may not have popped since it took alert_count (e.g. it only
    // added a torrent): this pop empties the queue, and counts if it found any.
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->PumpLocked();
  }
  impl_->WaitForAlerts(alert_count, deadline, stop);
}

void Swarm::Remove(TorrentId id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->torrents.find(id.value);
  if (it == impl_->torrents.end()) return;
  const TorrentStatus last = impl_->StatusLocked(id);
  impl_->removed.uploaded_bytes += last.all_time_upload;
  impl_->removed.downloaded_bytes += last.all_time_download;
  impl_->removed.hash_failures += static_cast<uint64_t>(it->second.hash_failures);
  try {
    impl_->session->remove_torrent(it->second.handle);
  } catch (...) {
    // Already gone inside libtorrent: forgetting it is all that is left.
  }
  impl_->torrents.erase(it);
}

}  // namespace deltaswarm
