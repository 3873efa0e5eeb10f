#include "swarm/share_plugin.h"

#include <libtorrent/peer_connection_handle.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <deque>
#include <set>
#include <vector>

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

// Seed side, one per connected node. Every callback runs on libtorrent's
// network thread, so the shared state needs no lock.
class SeedPeer final : public lt::peer_plugin {
 public:
  SeedPeer(std::weak_ptr<SeedTorrent> owner, lt::peer_connection_handle pc)
      : owner_(std::move(owner)), pc_(std::move(pc)) {}

  void sent_have_all() override { MarkReady(true, bitfield_known_); }
  // Peers without the fast extension get a bitfield instead of HAVE_ALL; by
  // the extension handshake it has gone out.
  bool on_extension_handshake(const lt::bdecode_node&) override {
    MarkReady(true, bitfield_known_);
    return true;
  }
  // Called before libtorrent records what the node has: kept here meanwhile.
  bool on_bitfield(const lt::bitfield& pieces) override {
    initial_ = pieces;
    return MarkReady(announced_all_, true);
  }
  bool on_have_all() override {
    has_all_ = true;
    return MarkReady(announced_all_, true);
  }
  bool on_have_none() override { return MarkReady(announced_all_, true); }
  bool on_have(lt::piece_index_t piece) override;
  void on_disconnect(const lt::error_code&) override;

  ~SeedPeer() override;

  // Whether the node holds piece; only for connected nodes.
  bool Has(int piece) const {
    if (has_all_ || (piece < initial_.size() && initial_.get_bit(piece))) return true;
    return pc_.has_piece(lt::piece_index_t(piece));
  }
  bool ready() const { return announced_all_ && bitfield_known_ && !has_all_ && !pc_.is_disconnecting(); }

  struct Handed {
    int piece;
    Clock::time_point since;
    Clock::time_point deadline;
  };
  std::vector<Handed> handed;  // pieces announced to this node that it has not reported yet
  uint64_t served = 0;         // handed pieces it has reported
  std::vector<bool> announced;            // pieces this node knows the seed has
  Clock::time_point last_progress = Clock::now();  // its last HAVE, from wherever it got the piece

  void SendHave(int piece) {
    const auto index = static_cast<uint32_t>(piece);
    const std::array<char, 9> msg = {0, 0, 0, 5, 4,
                                     static_cast<char>(index >> 24), static_cast<char>(index >> 16),
                                     static_cast<char>(index >> 8), static_cast<char>(index)};
    pc_.send_buffer(msg.data(), static_cast<int>(msg.size()));
    if (piece < static_cast<int>(announced.size())) announced[piece] = true;
  }

 private:
  bool MarkReady(bool announced_all, bool bitfield_known);

  std::weak_ptr<SeedTorrent> owner_;  // the torrent may go first while connections close
  lt::peer_connection_handle pc_;
  bool announced_all_ = false;
  bool bitfield_known_ = false;
  bool has_all_ = false;
  bool left_ = false;
  lt::bitfield initial_;
};

class SeedTorrent final : public lt::torrent_plugin, public std::enable_shared_from_this<SeedTorrent> {
 public:
  SeedTorrent(int num_pieces, int piece_bytes, const ShareSeedOptions& options)
      : piece_bytes_(piece_bytes), options_(options), out_(static_cast<size_t>(num_pieces), false) {
    for (int p = 0; p < num_pieces; ++p) pool_.push_back(p);
  }

  std::shared_ptr<lt::peer_plugin> new_connection(const lt::peer_connection_handle& pc) override {
    if (pc.type() != lt::connection_type::bittorrent) return nullptr;
    auto peer = std::make_shared<SeedPeer>(weak_from_this(), pc);
    peer->announced.assign(out_.size(), false);
    peers_.insert(peer.get());
    return peer;
  }

  // Re-hands pieces whose node has not reported them in time.
  void tick() override {
    const auto now = Clock::now();
    for (SeedPeer* peer : peers_) {
      for (auto it = peer->handed.begin(); it != peer->handed.end();) {
        if (peer->Has(it->piece)) {  // it came from another node, unreported to us
          it = peer->handed.erase(it);
          continue;
        }
        if (it->deadline > now) {
          ++it;
          continue;
        }
        SeedPeer* other = LeastLoaded(it->piece, peer);
        if (other == nullptr) {
          it->deadline = now + Deadline();  // nobody else to ask: keep waiting
          ++it;
          continue;
        }
        other->SendHave(it->piece);
        other->handed.push_back({it->piece, now, now + Deadline()});
        it = peer->handed.erase(it);
      }
    }
    OfferToStalled(now);
    Distribute();
  }

  // A node that has reported no new piece for a while is offered pieces it
  // lacks that are out with others: the nodes holding them may be gone or
  // unreachable from it. Each piece is announced to a
  // node once; it may then fetch it from the seed whenever it likes.
  void OfferToStalled(Clock::time_point now) {
    const auto stall = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options_.min_deadline_s));
    for (SeedPeer* peer : peers_) {
      if (!peer->ready() || now - peer->last_progress < stall) continue;
      int offered = 0;
      for (int piece = 0; piece < static_cast<int>(out_.size()) && offered < options_.in_flight_pieces; ++piece) {
        if (!out_[piece] || peer->announced[piece] || peer->Has(piece)) continue;
        peer->SendHave(piece);
        peer->handed.push_back({piece, now, now + Deadline()});
        ++offered;
      }
      peer->last_progress = now;  // the next offer waits another stall period
    }
  }

  // Hands pool pieces to ready nodes while fewer than in_flight_pieces are
  // out. Few pieces in flight at a time, each at a good share of the seed's
  // rate, complete soon and can be traded at once; the node served least so
  // far gets the next one.
  void Distribute() {
    int ready = 0, in_flight = 0;
    for (const SeedPeer* p : peers_) {
      ready += p->ready() ? 1 : 0;
      in_flight += static_cast<int>(p->handed.size());
    }
    if (ready == 0) return;
    const int per_node = std::max(1, (options_.in_flight_pieces + ready - 1) / ready);
    while (in_flight < options_.in_flight_pieces && !pool_.empty()) {
      const int piece = pool_.front();
      if (out_[piece]) {  // a disconnect may queue a piece twice
        pool_.pop_front();
        continue;
      }
      SeedPeer* best = nullptr;
      bool held = false;
      for (SeedPeer* p : peers_) {
        if (!p->ready()) continue;
        if (p->Has(piece)) {
          held = true;
          break;
        }
        if (static_cast<int>(p->handed.size()) >= per_node) continue;
        if (best == nullptr || std::make_pair(p->handed.size(), p->served) <
                                   std::make_pair(best->handed.size(), best->served))
          best = p;
      }
      if (!held && best == nullptr) return;  // every ready node is busy
      pool_.pop_front();
      out_[piece] = true;
      if (held) continue;  // a connected node holds it: it need not leave the seed
      const auto now = Clock::now();
      best->SendHave(piece);
      best->handed.push_back({piece, now, now + Deadline()});
      ++in_flight;
    }
  }

  void Reported(SeedPeer& peer, int piece) {
    if (piece < 0 || piece >= static_cast<int>(out_.size())) return;
    auto it = std::find_if(peer.handed.begin(), peer.handed.end(), [&](const auto& h) { return h.piece == piece; });
    if (it != peer.handed.end()) {
      const double took = std::chrono::duration<double>(Clock::now() - it->since).count();
      observed_piece_s_ = observed_piece_s_ == 0 ? took : 0.8 * observed_piece_s_ + 0.2 * took;
      peer.handed.erase(it);
      ++peer.served;
    }
    out_[piece] = true;  // a node holds it: the seed need not send it
    Distribute();
  }

  // What only the leaving node held or was handed goes back to the pool,
  // first in line, and the others are offered it at once.
  void Left(SeedPeer& peer) {
    peers_.erase(&peer);
    for (int piece = 0; piece < static_cast<int>(out_.size()); ++piece) {
      if (!out_[piece]) continue;
      const bool was_handed = std::any_of(peer.handed.begin(), peer.handed.end(),
                                          [&](const auto& h) { return h.piece == piece; });
      if (!was_handed && !peer.Has(piece)) continue;
      if (HeldOrHandedElsewhere(piece)) continue;
      out_[piece] = false;
      pool_.push_front(piece);
    }
    peer.handed.clear();
    Distribute();
  }

 private:
  bool HeldOrHandedElsewhere(int piece) const {
    for (const SeedPeer* p : peers_) {
      if (p->Has(piece)) return true;
      for (const auto& h : p->handed)
        if (h.piece == piece) return true;
    }
    return false;
  }

  SeedPeer* LeastLoaded(int piece, const SeedPeer* except) {
    SeedPeer* best = nullptr;
    for (SeedPeer* p : peers_) {
      if (p == except || !p->ready() || p->Has(piece)) continue;
      if (best == nullptr || p->handed.size() < best->handed.size()) best = p;
    }
    return best;
  }

  // How long a handed piece may take: what the seed's limit and the pieces in
  // flight predict, or what nodes have been taking, with a wide margin.
  Clock::duration Deadline() const {
    size_t in_flight = 0;
    for (const SeedPeer* p : peers_) in_flight += p->handed.size();
    double predicted = options_.upload_rate > 0
                           ? static_cast<double>(piece_bytes_) * static_cast<double>(in_flight + 1) /
                                 options_.upload_rate
                           : 0;
    double s = std::max({options_.min_deadline_s, 4 * predicted, 4 * observed_piece_s_});
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }

  const int piece_bytes_;
  const ShareSeedOptions options_;
  std::vector<bool> out_;   // handed out, or held by a connected node
  std::deque<int> pool_;    // pieces to hand out, in order
  std::set<SeedPeer*> peers_;
  double observed_piece_s_ = 0;

 public:
  void Forget(SeedPeer* peer) { peers_.erase(peer); }
};

bool SeedPeer::MarkReady(bool announced_all, bool bitfield_known) {
  announced_all_ = announced_all;
  bitfield_known_ = bitfield_known;
  if (auto owner = owner_.lock()) owner->Distribute();
  return false;  // libtorrent records the bitfield as usual
}

bool SeedPeer::on_have(lt::piece_index_t piece) {
  last_progress = Clock::now();
  if (auto owner = owner_.lock()) owner->Reported(*this, static_cast<int>(piece));
  return false;
}

void SeedPeer::on_disconnect(const lt::error_code&) {
  if (left_) return;
  left_ = true;
  if (auto owner = owner_.lock()) owner->Left(*this);
}

SeedPeer::~SeedPeer() {
  if (left_) return;
  if (auto owner = owner_.lock()) owner->Forget(this);
}

}  // namespace

std::shared_ptr<lt::torrent_plugin> MakeShareSeedPlugin(int num_pieces, int piece_bytes,
                                                        const ShareSeedOptions& options) {
  return std::make_shared<SeedTorrent>(num_pieces, piece_bytes, options);
}

std::shared_ptr<lt::torrent_plugin> MakeShareNodePlugin() { return std::make_shared<NodeTorrent>(); }

}  // namespace deltaswarm
