#include "swarm/share_plugin.h"

#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_request.hpp>

#include <array>
#include <chrono>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "deltaswarm/share_scheduler.h"

namespace deltaswarm {

namespace {

using Clock = std::chrono::steady_clock;

bool IsShareSeed(const lt::peer_connection_handle& pc) {
  const lt::peer_id& id = pc.pid();
  return std::memcmp(id.data(), kShareSeedPrefix, sizeof kShareSeedPrefix - 1) == 0;
}

// Node side: the share seed's HAVE_ALL is not an offer; its HAVEs are.
class NodePeer final : public lt::peer_plugin {
 public:
  explicit NodePeer(lt::peer_connection_handle pc) : pc_(std::move(pc)) {}
  bool on_have_all() override { return IsShareSeed(pc_); }

 private:
  lt::peer_connection_handle pc_;
};

class NodeTorrent final : public lt::torrent_plugin {
 public:
  std::shared_ptr<lt::peer_plugin> new_connection(const lt::peer_connection_handle& pc) override {
    if (pc.type() != lt::connection_type::bittorrent) return nullptr;
    return std::make_shared<NodePeer>(pc);
  }
};

class SeedTorrent;

// Seed side, one per connected node: reports what libtorrent sees to the
// torrent's scheduler. Every callback runs on libtorrent's network thread,
// so the shared state needs no lock.
class SeedPeer final : public lt::peer_plugin {
 public:
  SeedPeer(std::weak_ptr<SeedTorrent> owner, lt::peer_connection_handle pc, SharePeer id)
      : owner_(std::move(owner)), pc_(std::move(pc)), id_(id) {}
  ~SeedPeer() override { Leave(); }

  void sent_have_all() override { MarkReady(true, bitfield_known_); }
  // Peers without the fast extension get a bitfield instead of HAVE_ALL; by
  // the extension handshake it has gone out.
  bool on_extension_handshake(const lt::bdecode_node&) override {
    MarkReady(true, bitfield_known_);
    return true;
  }
  bool on_bitfield(const lt::bitfield& pieces) override {
    claimed_.assign(static_cast<size_t>(pieces.size()), false);
    for (int i = 0; i < pieces.size(); ++i) claimed_[static_cast<size_t>(i)] = pieces.get_bit(i);
    MarkReady(announced_all_, true);
    return false;  // libtorrent records the bitfield as usual
  }
  bool on_have_all() override {
    claims_all_ = true;
    MarkReady(announced_all_, true);
    return false;
  }
  bool on_have_none() override {
    MarkReady(announced_all_, true);
    return false;
  }
  bool on_have(lt::piece_index_t piece) override;
  bool on_request(const lt::peer_request& r) override;
  void sent_piece(const lt::peer_request& r) override;
  void on_disconnect(const lt::error_code&) override { Leave(); }

  // Tells the node the seed has piece: an offer.
  void SendHave(int piece) {
    const auto index = static_cast<uint32_t>(piece);
    const std::array<char, 9> msg = {0, 0, 0, 5, 4,
                                     static_cast<char>(index >> 24), static_cast<char>(index >> 16),
                                     static_cast<char>(index >> 8), static_cast<char>(index)};
    pc_.send_buffer(msg.data(), static_cast<int>(msg.size()));
  }

 private:
  void MarkReady(bool announced_all, bool bitfield_known);
  void Leave();

  std::weak_ptr<SeedTorrent> owner_;  // the torrent may go first while connections close
  lt::peer_connection_handle pc_;
  const SharePeer id_;
  bool announced_all_ = false;
  bool bitfield_known_ = false;
  bool ready_ = false;
  bool claims_all_ = false;
  bool left_ = false;
  std::vector<bool> claimed_;
};

class SeedTorrent final : public lt::torrent_plugin, public std::enable_shared_from_this<SeedTorrent> {
 public:
  explicit SeedTorrent(const ShareSchedulerConfig& config) : scheduler_(config) {}

  std::shared_ptr<lt::peer_plugin> new_connection(const lt::peer_connection_handle& pc) override {
    if (pc.type() != lt::connection_type::bittorrent) return nullptr;
    const SharePeer id = next_id_++;
    auto peer = std::make_shared<SeedPeer>(weak_from_this(), pc, id);
    peers_[id] = peer.get();
    scheduler_.Joined(id, Now());
    return peer;
  }

  // About once a second: the scheduler's time-based rules (stalled offers,
  // starving nodes) also run between events.
  void tick() override { Decide(); }

  ShareScheduler& scheduler() { return scheduler_; }
  double Now() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  void Decide() {
    for (const ShareOffer& offer : scheduler_.Decide(Now()))
      if (auto it = peers_.find(offer.peer); it != peers_.end()) it->second->SendHave(offer.piece);
  }

  void Forget(SharePeer id) {
    peers_.erase(id);
    scheduler_.Left(id, Now());
    Decide();
  }

 private:
  const Clock::time_point start_ = Clock::now();
  ShareScheduler scheduler_;
  std::unordered_map<SharePeer, SeedPeer*> peers_;
  SharePeer next_id_ = 1;
};

void SeedPeer::MarkReady(bool announced_all, bool bitfield_known) {
  announced_all_ = announced_all;
  bitfield_known_ = bitfield_known;
  if (ready_ || !announced_all_ || !bitfield_known_) return;
  ready_ = true;
  if (auto owner = owner_.lock()) {
    owner->scheduler().Ready(id_, claimed_, claims_all_, owner->Now());
    owner->Decide();
  }
}

bool SeedPeer::on_have(lt::piece_index_t piece) {
  if (auto owner = owner_.lock()) {
    owner->scheduler().Have(id_, static_cast<int>(piece), owner->Now());
    owner->Decide();
  }
  return false;
}

bool SeedPeer::on_request(const lt::peer_request& r) {
  if (auto owner = owner_.lock()) owner->scheduler().Requested(id_, static_cast<int>(r.piece), owner->Now());
  return false;  // libtorrent serves it as usual
}

void SeedPeer::sent_piece(const lt::peer_request& r) {
  if (auto owner = owner_.lock()) {
    owner->scheduler().Sent(id_, static_cast<int>(r.piece), static_cast<uint64_t>(r.length), owner->Now());
    owner->Decide();
  }
}

void SeedPeer::Leave() {
  if (left_) return;
  left_ = true;
  if (auto owner = owner_.lock()) owner->Forget(id_);
}

}  // namespace

std::shared_ptr<lt::torrent_plugin> MakeShareSeedPlugin(int num_pieces, int piece_bytes, int last_piece_bytes,
                                                        const ShareSeedOptions& options) {
  ShareSchedulerConfig config;
  config.num_pieces = num_pieces;
  config.piece_bytes = static_cast<uint64_t>(piece_bytes);
  config.last_piece_bytes = static_cast<uint64_t>(last_piece_bytes);
  config.upload_limit = options.upload_rate;
  config.max_in_flight = options.max_in_flight;
  return std::make_shared<SeedTorrent>(config);
}

std::shared_ptr<lt::torrent_plugin> MakeShareNodePlugin() { return std::make_shared<NodeTorrent>(); }

}  // namespace deltaswarm
