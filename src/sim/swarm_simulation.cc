#include "sim/swarm_simulation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <utility>

namespace deltaswarm::sim {

namespace {

// A flow this close to its piece's end has it (rates x steps are not exact).
constexpr double kByteSlack = 0.5;

ShareSchedulerConfig SchedulerConfig(int pieces, uint64_t piece_bytes, uint64_t last_piece_bytes, double seed_rate) {
  ShareSchedulerConfig c;
  c.num_pieces = pieces;
  c.piece_bytes = piece_bytes;
  c.last_piece_bytes = last_piece_bytes;
  c.upload_limit = seed_rate;
  return c;
}

int PiecesOf(const SimConfig& c) {
  return static_cast<int>((c.payload_bytes + c.piece_bytes - 1) / c.piece_bytes);
}

// Resources of FairShare: node uploads [0, N), the seed's upload N, node
// downloads [N + 1, 2N + 1), then rack uplinks and rack downlinks.
std::vector<double> Capacities(const SimConfig& c, double seed_rate, int racks) {
  const auto n = static_cast<size_t>(c.nodes);
  std::vector<double> capacity(2 * n + 1 + 2 * static_cast<size_t>(racks), c.upload_rate);
  capacity[n] = seed_rate;
  for (size_t i = 0; i < n; ++i) capacity[n + 1 + i] = c.download_rate > 0 ? c.download_rate : 1;  // unused when 0
  const double rack_link = static_cast<double>(c.rack_size) * c.upload_rate / c.oversubscription;
  for (size_t r = 0; r < 2 * static_cast<size_t>(racks); ++r) capacity[2 * n + 1 + r] = rack_link;
  return capacity;
}

int RacksOf(const SimConfig& c) { return c.rack_size > 0 ? (c.nodes + c.rack_size - 1) / c.rack_size : 1; }

}  // namespace

SwarmSimulation::SwarmSimulation(const SimConfig& config, SimProgressFn progress)
    : config_(config),
      progress_(std::move(progress)),
      pieces_(PiecesOf(config)),
      piece_bytes_(config.piece_bytes),
      last_piece_bytes_(config.payload_bytes - static_cast<uint64_t>(pieces_ - 1) * config.piece_bytes),
      seed_rate_(config.seed_upload_rate > 0 ? config.seed_upload_rate : config.upload_rate),
      step_s_(SimStep(config)),
      bound_s_(FluidBound(config)),
      latency_s_(config.latency_s),
      racks_(RacksOf(config)),
      sweep_words_((static_cast<uint64_t>(pieces_) + 63) / 64),
      random_(config.rng_seed),
      nodes_(static_cast<size_t>(config.nodes)),
      graph_(config.nodes, config.neighbours, random_),
      edge_seen_(graph_.edges(), -1),
      edge_epoch_(graph_.edges(), 0),
      sets_(config.nodes, pieces_),
      scheduler_(SchedulerConfig(pieces_, piece_bytes_, last_piece_bytes_, seed_rate_)),
      fair_(Capacities(config, seed_rate_, racks_)),
      rate_bin_s_(std::max(config.rate_sample_s > 0 ? config.rate_sample_s : bound_s_ / 100, step_s_)) {
  for (int i = 0; i < config.nodes; ++i) {
    Node& n = nodes_[static_cast<size_t>(i)];
    n.rack = config.rack_size > 0 ? i / config.rack_size : 0;
    n.start_s = config.startup_s * random_.Uniform();
  }
  start_order_.resize(nodes_.size());
  std::iota(start_order_.begin(), start_order_.end(), 0);
  std::stable_sort(start_order_.begin(), start_order_.end(), [&](int32_t a, int32_t b) {
    return nodes_[static_cast<size_t>(a)].start_s < nodes_[static_cast<size_t>(b)].start_s;
  });
  if (config.kill_at >= 0) kill_pieces_ = static_cast<int>(std::ceil(config.kill_at * pieces_));
  // Every node's upload slots first (see NewFlow), the seed's flows after them.
  const size_t slots = nodes_.size() * static_cast<size_t>(config.slots);
  flows_.resize(slots);
  paths_.resize(slots);
  active_.resize(slots, 0);
  rates_.resize(slots, 0);
}

FlowPath SwarmSimulation::PathOf(int32_t src, int32_t dst) const {
  const auto n = static_cast<int32_t>(config_.nodes);
  FlowPath path;
  path.Add(src == kSeed ? n : src);
  if (config_.download_rate > 0) path.Add(n + 1 + dst);
  if (racks_ > 1 && Rack(src) != Rack(dst)) {
    path.Add(2 * n + 1 + Rack(src));
    path.Add(2 * n + 1 + racks_ + Rack(dst));
  }
  return path;
}

Result<SimReport> SwarmSimulation::Run() {
  const double limit_s = config_.startup_s + config_.time_limit_bounds * bound_s_;
  while (true) {
    StartNodes();
    HandleEvents();
    MaybeKill();
    ActivateFlows();
    RunSearches();
    // A node's arrival, request or departure may allow an offer now; HAVEs
    // and the time-based rules wait for the interval (when there is one).
    if (seed_heard_news_ || now_ >= next_decide_) {
      Decide(now_);
      seed_heard_news_ = false;
      next_decide_ = now_ + config_.decide_interval_s;
    }
    Advance();
    ++steps_;
    now_ = static_cast<double>(steps_) * step_s_;  // no drift from summing steps
    MaybeKill();
    if (started_ == nodes_.size() && done_ == live_nodes()) break;
    if (progress_ && steps_ % 256 == 0) progress_(Progress());
    if (now_ > limit_s) {
      const SimProgress p = Progress();
      char text[256];
      std::snprintf(text, sizeof text,
                    "not finished after %.1f simulated s (startup + %g x the bound %.2f s): "
                    "%d of %d nodes hold every piece, %.1f %% of the pieces delivered",
                    now_, config_.time_limit_bounds, bound_s_, p.nodes_done, live_nodes(), 100 * p.delivered);
      return Status(Code::kCancelled, text);
    }
  }
  if (progress_) progress_(Progress());
  return Report();
}

void SwarmSimulation::StartNodes() {
  while (started_ < start_order_.size() && Due(nodes_[static_cast<size_t>(start_order_[started_])].start_s)) {
    const int32_t id = start_order_[started_++];
    nodes_[static_cast<size_t>(id)].state = NodeState::kActive;
    // Its connection to the seed: handshake, then the empty bitfield.
    events_.push_back({now_ + latency_s_, EventKind::kJoin, id, -1});
    for (size_t e = graph_.first_edge(id); e < graph_.first_edge(id + 1); ++e) QueueSearch(graph_.target(e));
  }
}

// Events are queued at (their cause's time + one latency); causes within a
// step are not in time order, so one may wait behind a later one for a step.
void SwarmSimulation::HandleEvents() {
  while (!events_.empty() && Due(events_.front().at)) {
    const Event ev = events_.front();
    events_.pop_front();
    Node& n = nodes_[static_cast<size_t>(ev.node)];
    switch (ev.kind) {
      case EventKind::kJoin:
        if (n.state != NodeState::kActive) break;
        scheduler_.Joined(static_cast<SharePeer>(ev.node), now_);
        scheduler_.Ready(static_cast<SharePeer>(ev.node), {}, false, now_);
        seed_heard_news_ = true;
        break;
      case EventKind::kOffer:
        HandleOffer(ev.node, ev.piece, ev.at);
        break;
      case EventKind::kAnnounce:
        if (n.state == NodeState::kActive) {
          sets_.Announce(ev.node, ev.piece);
          QueueSearch(ev.node);
        }
        // The HAVE left the node before it did.
        if (!n.seed_heard_left) scheduler_.Have(static_cast<SharePeer>(ev.node), ev.piece, now_);
        break;
      case EventKind::kLeft:
        scheduler_.Left(static_cast<SharePeer>(ev.node), now_);
        seed_heard_news_ = true;
        n.seed_heard_left = true;
        break;
    }
  }
}

// The seed's HAVE reached the node: it asks the seed for the piece, unless
// it holds it already. When a peer is sending it the piece, it asks the seed
// too (libtorrent would spread the remaining blocks over both); the first to
// finish wins and the other is cancelled.
void SwarmSimulation::HandleOffer(int32_t node, int32_t piece, double at) {
  Node& n = nodes_[static_cast<size_t>(node)];
  if (n.state != NodeState::kActive) return;
  if (sets_.Taken(node, piece)) {
    bool from_peer = false;
    for (int32_t id : n.downloads) {
      const Flow& f = flows_[static_cast<size_t>(id)];
      if (f.piece == piece) from_peer = from_peer || f.src != kSeed;
    }
    if (!from_peer) return;
  }
  NewFlow(kSeed, node, piece, at + RequestLatency());
}

void SwarmSimulation::MaybeKill() {
  if (kill_pieces_ < 0 || killed_ >= 0) return;
  const Node& n = nodes_[0];
  if (n.state == NodeState::kActive && n.holding >= kill_pieces_) Kill(0);
}

void SwarmSimulation::Kill(int32_t node) {
  Node& n = nodes_[static_cast<size_t>(node)];
  n.state = NodeState::kLeft;
  killed_ = node;
  killed_s_ = now_;
  if (n.done_s >= 0) --done_;
  for (int32_t id : std::vector<int32_t>(n.uploads)) AbortFlow(id);
  for (int32_t id : std::vector<int32_t>(n.downloads)) CloseFlow(id);
  sets_.Withdraw(node);
  events_.push_back({now_ + latency_s_, EventKind::kLeft, node, -1});
}

void SwarmSimulation::ActivateFlows() {
  while (!starts_.empty() && Due(starts_.top().at)) {
    const Pending p = starts_.top();
    starts_.pop();
    Flow& f = flows_[static_cast<size_t>(p.flow)];
    if (!f.alive || f.generation != p.generation) continue;
    active_[static_cast<size_t>(p.flow)] = 1;
    fair_.Join(paths_[static_cast<size_t>(p.flow)]);
    if (f.src == kSeed) {
      scheduler_.Requested(static_cast<SharePeer>(f.dst), f.piece, now_);
      seed_heard_news_ = true;
    }
  }
}

void SwarmSimulation::QueueSearch(int32_t node) {
  Node& n = nodes_[static_cast<size_t>(node)];
  if (n.state != NodeState::kActive || n.search_queued || static_cast<int>(n.uploads.size()) >= config_.slots) return;
  n.search_queued = true;
  search_queue_.push_back(node);
}

void SwarmSimulation::RunSearches() {
  std::vector<int32_t> queue;
  queue.swap(search_queue_);
  for (int32_t node : queue) {
    nodes_[static_cast<size_t>(node)].search_queued = false;
    Search(node);
  }
}

// Per edge, a neighbour found wanting nothing from src is asked again only
// about what src announced since (when that still is among its newest);
// what it takes meanwhile only makes it want less, unless a fetch of it was
// dropped (its cancel epoch).
bool SwarmSimulation::MayWant(size_t edge, int32_t src, int32_t dst) const {
  const int seen = edge_seen_[edge];
  if (seen < 0 || edge_epoch_[edge] != nodes_[static_cast<size_t>(dst)].cancel_epoch) return true;
  const int fresh = sets_.announced(src) - seen;
  if (fresh > PieceSets::kNewest) return true;
  return fresh > 0 && sets_.WantsNewest(src, dst, fresh);
}

// src unchokes interested neighbours while it has free slots: those that
// receive from the fewest peers first, ties in a random order. (libtorrent
// rotates its unchokes and gives a fifth of the slots to optimistic
// unchokes of peers it has not served; without a preference like this, a
// node that every neighbour's slots pass by would starve until the rechoke.)
void SwarmSimulation::Search(int32_t src) {
  Node& s = nodes_[static_cast<size_t>(src)];
  int free = config_.slots - static_cast<int>(s.uploads.size());
  if (s.state != NodeState::kActive || free <= 0 || sets_.announced(src) == 0) return;
  const int degree = graph_.degree(src);
  if (degree == 0) return;
  const size_t first = graph_.first_edge(src);
  const auto offset = static_cast<int>(random_.Below(static_cast<uint64_t>(degree)));
  candidates_.clear();
  for (int k = 0; k < degree; ++k) {
    const size_t edge = first + static_cast<size_t>((offset + k) % degree);
    const int32_t dst = graph_.target(edge);
    const Node& d = nodes_[static_cast<size_t>(dst)];
    if (d.state != NodeState::kActive || d.holding == pieces_) continue;
    if (std::any_of(s.uploads.begin(), s.uploads.end(),
                    [&](int32_t id) { return flows_[static_cast<size_t>(id)].dst == dst; }))
      continue;
    if (MayWant(edge, src, dst)) candidates_.emplace_back(static_cast<int>(d.downloads.size()), edge);
  }
  std::stable_sort(candidates_.begin(), candidates_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [served, edge] : candidates_) {
    const int32_t dst = graph_.target(edge);
    auto cursor = static_cast<uint32_t>(random_.Below(sweep_words_));
    const int piece = sets_.PickRarest(src, dst, cursor, random_);
    if (piece < 0) {
      edge_seen_[edge] = sets_.announced(src);
      edge_epoch_[edge] = nodes_[static_cast<size_t>(dst)].cancel_epoch;
      continue;
    }
    // The unchoke reaches dst, whose request comes back: two latencies.
    const int32_t id = NewFlow(src, dst, piece, now_ + latency_s_ + RequestLatency());
    flows_[static_cast<size_t>(id)].cursor = cursor;
    if (--free == 0) break;
  }
}

void SwarmSimulation::Decide(double at) {
  for (const ShareOffer& offer : scheduler_.Decide(at))
    events_.push_back({at + latency_s_, EventKind::kOffer, static_cast<int32_t>(offer.peer), offer.piece});
  max_k_ = std::max(max_k_, scheduler_.in_flight_target());
}

// Peer connections move on to their next piece within the step, with the
// rest of the step's bytes. The seed's completions are handled in time
// order at their exact times, each followed by Decide, as the real seed
// decides after every block it sends: its next offers do not wait for the
// step to end.
void SwarmSimulation::Advance() {
  fair_.Allocate(paths_, active_, rates_);
  const double step_end = now_ + step_s_;
  std::vector<std::pair<double, int32_t>> seed_done;
  std::vector<int32_t> seed_sending;
  for (size_t i = 0; i < flows_.size(); ++i) {
    if (!active_[i]) continue;
    const auto id = static_cast<int32_t>(i);
    const double rate = rates_[i];
    double bytes = rate * step_s_;
    if (flows_[i].src == kSeed) {
      if (bytes + kByteSlack >= flows_[i].left) {
        seed_done.emplace_back(now_ + flows_[i].left / rate, id);
      } else {
        flows_[i].left -= bytes;
        flows_[i].sent += bytes;
        seed_sending.push_back(id);
      }
      continue;
    }
    double at = now_;
    while (active_[i] && bytes + kByteSlack >= flows_[i].left) {
      bytes = std::max(0.0, bytes - flows_[i].left);
      at += rate > 0 ? flows_[i].left / rate : 0;
      ++peer_pieces_;
      CompletePiece(flows_[i].dst, flows_[i].piece, at, id);
      NextPiece(id, at, /*may_rechoke=*/true);
    }
    if (active_[i]) flows_[i].left -= bytes;
  }
  std::sort(seed_done.begin(), seed_done.end());
  for (const auto& [at, id] : seed_done) {
    Flow& f = flows_[static_cast<size_t>(id)];
    if (!f.alive) continue;  // a peer delivered the piece first
    f.sent = static_cast<double>(PieceBytes(f.piece));
    ReportSent(f, at);
    ++seed_pieces_;
    const int32_t dst = f.dst, piece = f.piece;
    CloseFlow(id);
    CompletePiece(dst, piece, at, id);
    Decide(at);
  }
  for (int32_t id : seed_sending)
    if (flows_[static_cast<size_t>(id)].alive) ReportSent(flows_[static_cast<size_t>(id)], step_end);
}

void SwarmSimulation::ReportSent(Flow& f, double at) {
  const auto total = static_cast<uint64_t>(std::min(f.sent, static_cast<double>(PieceBytes(f.piece))));
  if (total <= f.reported) return;
  const uint64_t bytes = total - f.reported;
  f.reported = total;
  seed_bytes_ += bytes;
  const auto bin = static_cast<size_t>(at / rate_bin_s_);
  if (bin >= seed_bin_bytes_.size()) seed_bin_bytes_.resize(bin + 1, 0);
  seed_bin_bytes_[bin] += static_cast<double>(bytes);
  scheduler_.Sent(static_cast<SharePeer>(f.dst), f.piece, bytes, at);
}

void SwarmSimulation::CompletePiece(int32_t dst, int32_t piece, double at, int32_t via) {
  Node& n = nodes_[static_cast<size_t>(dst)];
  ++n.holding;
  ++delivered_;
  // Another fetch of the same piece (the seed's and a peer's, see
  // HandleOffer) is moot now; only a node fetching from the seed can have one.
  if (n.seed_downloads > 0) {
    std::vector<int32_t> moot;
    for (int32_t id : n.downloads)
      if (id != via && flows_[static_cast<size_t>(id)].piece == piece) moot.push_back(id);
    for (int32_t id : moot) {
      if (flows_[static_cast<size_t>(id)].src == kSeed) CloseFlow(id);
      else NextPiece(id, at, /*may_rechoke=*/false);
    }
  }
  events_.push_back({at + latency_s_, EventKind::kAnnounce, dst, piece});
  if (n.holding == pieces_) {
    n.done_s = at;
    ++done_;
  }
}

bool SwarmSimulation::NextPiece(int32_t id, double at, bool may_rechoke) {
  Flow& f = flows_[static_cast<size_t>(id)];
  // libtorrent reconsiders whom it unchokes every rechoke interval; the slot
  // is offered again (possibly to the same neighbour).
  if (may_rechoke && at - f.opened_s >= config_.rechoke_s) {
    CloseFlow(id);
    return false;
  }
  const int piece = sets_.PickRarest(f.src, f.dst, f.cursor, random_);
  if (piece < 0) {
    CloseFlow(id);
    return false;
  }
  sets_.Take(f.dst, piece);
  f.piece = piece;
  f.left = static_cast<double>(PieceBytes(piece));
  return true;
}

int32_t SwarmSimulation::NewFlow(int32_t src, int32_t dst, int32_t piece, double first_byte_at) {
  int32_t id = -1;
  if (src != kSeed) {
    // A free one of the sender's own slots: a sender's flows sit side by
    // side, so that the passes over the flows find its upload in the cache.
    const auto first = static_cast<size_t>(src) * static_cast<size_t>(config_.slots);
    for (size_t i = first; i < first + static_cast<size_t>(config_.slots) && id < 0; ++i)
      if (!flows_[i].alive) id = static_cast<int32_t>(i);
  } else if (!free_seed_flows_.empty()) {
    id = free_seed_flows_.back();
    free_seed_flows_.pop_back();
  } else {
    id = static_cast<int32_t>(flows_.size());
    flows_.emplace_back();
    paths_.emplace_back();
    active_.push_back(0);
    rates_.push_back(0);
  }
  Flow& f = flows_[static_cast<size_t>(id)];
  const uint32_t generation = f.generation + 1;
  f = Flow{};
  f.src = src;
  f.dst = dst;
  f.piece = piece;
  f.generation = generation;
  f.alive = true;
  f.left = static_cast<double>(PieceBytes(piece));
  f.opened_s = now_;
  paths_[static_cast<size_t>(id)] = PathOf(src, dst);
  active_[static_cast<size_t>(id)] = 0;
  sets_.Take(dst, piece);
  if (src != kSeed) nodes_[static_cast<size_t>(src)].uploads.push_back(id);
  else ++nodes_[static_cast<size_t>(dst)].seed_downloads;
  nodes_[static_cast<size_t>(dst)].downloads.push_back(id);
  starts_.push({first_byte_at, id, generation});
  return id;
}

void SwarmSimulation::CloseFlow(int32_t id) {
  Flow& f = flows_[static_cast<size_t>(id)];
  if (!f.alive) return;
  f.alive = false;
  if (active_[static_cast<size_t>(id)]) {
    fair_.Leave(paths_[static_cast<size_t>(id)]);
    active_[static_cast<size_t>(id)] = 0;
  }
  auto drop = [id](std::vector<int32_t>& list) { list.erase(std::find(list.begin(), list.end(), id)); };
  drop(nodes_[static_cast<size_t>(f.dst)].downloads);
  if (f.src != kSeed) {
    drop(nodes_[static_cast<size_t>(f.src)].uploads);
    QueueSearch(f.src);
  } else {
    --nodes_[static_cast<size_t>(f.dst)].seed_downloads;
    free_seed_flows_.push_back(id);
  }
}

void SwarmSimulation::AbortFlow(int32_t id) {
  const Flow f = flows_[static_cast<size_t>(id)];
  CloseFlow(id);
  Node& d = nodes_[static_cast<size_t>(f.dst)];
  const bool still_fetched = std::any_of(d.downloads.begin(), d.downloads.end(), [&](int32_t other) {
    return flows_[static_cast<size_t>(other)].piece == f.piece;
  });
  if (still_fetched || d.state != NodeState::kActive) return;
  sets_.Untake(f.dst, f.piece);
  ++d.cancel_epoch;
  // It wants that piece again: its neighbours may have it.
  for (size_t e = graph_.first_edge(f.dst); e < graph_.first_edge(f.dst + 1); ++e) QueueSearch(graph_.target(e));
}

SimProgress SwarmSimulation::Progress() const {
  SimProgress p;
  p.sim_s = now_;
  p.nodes_done = done_;
  p.nodes = live_nodes();
  p.delivered = static_cast<double>(delivered_) / (static_cast<double>(config_.nodes) * pieces_);
  return p;
}

SimReport SwarmSimulation::Report() const {
  SimReport r;
  r.nodes = config_.nodes;
  r.payload_bytes = config_.payload_bytes;
  r.piece_bytes = piece_bytes_;
  r.pieces = pieces_;
  r.racks = racks_;
  r.step_s = step_s_;
  r.bound_s = bound_s_;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const bool killed = static_cast<int32_t>(i) == killed_;
    r.done_s.push_back(killed ? -1 : nodes_[i].done_s);
    if (!killed) r.time_s = std::max(r.time_s, nodes_[i].done_s);
  }
  r.ratio = r.time_s / bound_s_;
  r.seed_bytes = seed_bytes_;
  r.seed_upload_x = static_cast<double>(seed_bytes_) / static_cast<double>(config_.payload_bytes);
  r.killed_node = killed_;
  r.killed_s = killed_s_;
  r.rate_sample_s = rate_bin_s_;
  for (double bytes : seed_bin_bytes_) r.seed_rate.push_back(bytes / rate_bin_s_);
  r.steps = steps_;
  r.peer_pieces = peer_pieces_;
  r.seed_pieces = seed_pieces_;
  const ShareSchedulerStats stats = scheduler_.stats();
  r.rehanded = stats.rehanded;
  r.starving_offers = stats.starving_offers;
  r.max_in_flight_target = max_k_;
  return r;
}

}  // namespace deltaswarm::sim
