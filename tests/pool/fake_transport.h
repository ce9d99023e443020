#ifndef FETCHPOOL_TESTS_POOL_FAKE_TRANSPORT_H_
#define FETCHPOOL_TESTS_POOL_FAKE_TRANSPORT_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "pool/host_pool.h"

namespace fetchpool {

// Everything one FakeConnection was told and answered. The transport keeps it
// after the pool destroyed the connection, so a test can still inspect a
// closed one.
struct FakeConnectionInfo {
  uint64_t id = 0;              // 1, 2, ... in opening order (per transport)
  const Slot* slot = nullptr;   // the slot it was opened for
  bool alive = true;            // what LooksAlive() answers
  bool peer_closed = false;     // the origin closed first: Close() answers false
  bool idle = false;            // the last SetIdle() value
  bool closed = false;
  bool closed_locally = false;  // Close() answered true
  bool destroyed = false;       // the pool destroyed the Connection object
  int looks_alive_calls = 0;
  int close_calls = 0;
  std::vector<bool> set_idle_calls;  // every SetIdle() argument, in order
  // Calls that break the Connection contract: SetIdle() that changes
  // nothing, any call after Close(), a second Close(), destroyed unclosed.
  std::vector<std::string> misuse;
};

// The flags of one connection without its call history: cheap to copy.
struct FakeConnectionStatus {
  bool alive = true;
  bool peer_closed = false;
  bool idle = false;
  bool closed = false;
  bool closed_locally = false;
  bool destroyed = false;
};

class FakeTransport;

// A Connection whose behaviour the test scripts and whose calls it records.
class FakeConnection final : public Connection {
 public:
  uint64_t id() const { return id_; }

  bool LooksAlive() override {
    std::lock_guard<std::mutex> lock(core_->mu);
    FakeConnectionInfo& info = Info();
    ++info.looks_alive_calls;
    if (info.closed) Misuse(info, "LooksAlive after Close");
    return info.alive && !info.peer_closed;
  }

  void SetIdle(bool idle) override {
    std::lock_guard<std::mutex> lock(core_->mu);
    FakeConnectionInfo& info = Info();
    info.set_idle_calls.push_back(idle);
    if (info.closed) Misuse(info, "SetIdle after Close");
    if (info.idle == idle) Misuse(info, absl::StrCat("SetIdle(", idle, ") twice"));
    info.idle = idle;
  }

  bool Close() override {
    std::lock_guard<std::mutex> lock(core_->mu);
    FakeConnectionInfo& info = Info();
    ++info.close_calls;
    if (info.closed) {
      Misuse(info, "Close twice");
      return false;
    }
    if (info.idle) Misuse(info, "Close while still marked idle");
    info.closed = true;
    info.closed_locally = !info.peer_closed;
    ++core_->closed;
    if (info.closed_locally) ++core_->local_closes;
    return info.closed_locally;
  }

  ~FakeConnection() override {
    std::lock_guard<std::mutex> lock(core_->mu);
    FakeConnectionInfo& info = Info();
    if (!info.closed) Misuse(info, "destroyed without Close");
    info.destroyed = true;
  }

 private:
  friend class FakeTransport;
  struct Core {
    std::mutex mu;
    std::vector<FakeConnectionInfo> infos;  // index id - 1
    std::unordered_map<const Slot*, uint64_t> latest_by_slot;
    uint64_t closed = 0;
    uint64_t local_closes = 0;
    uint64_t misuse_count = 0;
  };

  FakeConnection(std::shared_ptr<Core> core, uint64_t id) : core_(std::move(core)), id_(id) {}
  FakeConnectionInfo& Info() { return core_->infos[id_ - 1]; }
  void Misuse(FakeConnectionInfo& info, std::string what) {
    info.misuse.push_back(std::move(what));
    ++core_->misuse_count;
  }

  std::shared_ptr<Core> core_;
  uint64_t id_;
};

// A Transport handing out FakeConnections. Thread-safe; Info() returns
// copies. Connections may outlive the transport.
class FakeTransport final : public Transport {
 public:
  FakeTransport() : core_(std::make_shared<FakeConnection::Core>()) {}

  std::unique_ptr<Connection> NewConnection(Slot& slot) override {
    std::lock_guard<std::mutex> lock(core_->mu);
    const uint64_t id = core_->infos.size() + 1;
    FakeConnectionInfo info;
    info.id = id;
    info.slot = &slot;
    info.alive = new_connections_alive_;
    info.peer_closed = new_connections_peer_closed_;
    core_->infos.push_back(std::move(info));
    core_->latest_by_slot[&slot] = id;
    return std::unique_ptr<Connection>(new FakeConnection(core_, id));
  }

  // The connection object of a live slot (owned by the slot).
  static FakeConnection& ConnectionOf(const Slot& slot) {
    return static_cast<FakeConnection&>(slot.connection());
  }
  static uint64_t IdOf(const Slot& slot) { return ConnectionOf(slot).id(); }

  // Counts.
  uint64_t opened() const {
    std::lock_guard<std::mutex> lock(core_->mu);
    return core_->infos.size();
  }
  uint64_t closed() const {
    std::lock_guard<std::mutex> lock(core_->mu);
    return core_->closed;
  }
  uint64_t local_closes() const {
    std::lock_guard<std::mutex> lock(core_->mu);
    return core_->local_closes;
  }
  uint64_t open_now() const {
    std::lock_guard<std::mutex> lock(core_->mu);
    return core_->infos.size() - core_->closed;
  }

  // The record of connection `id` (1-based, opening order).
  FakeConnectionInfo Info(uint64_t id) const {
    std::lock_guard<std::mutex> lock(core_->mu);
    return core_->infos.at(id - 1);
  }
  // The record of the connection most recently opened for `slot` (a slot
  // address can be reused after the pool destroyed the slot).
  FakeConnectionInfo InfoOf(const Slot* slot) const {
    std::lock_guard<std::mutex> lock(core_->mu);
    return core_->infos.at(core_->latest_by_slot.at(slot) - 1);
  }
  std::vector<FakeConnectionInfo> All() const {
    std::lock_guard<std::mutex> lock(core_->mu);
    return core_->infos;
  }
  FakeConnectionStatus Status(uint64_t id) const {
    std::lock_guard<std::mutex> lock(core_->mu);
    const FakeConnectionInfo& info = core_->infos.at(id - 1);
    FakeConnectionStatus st;
    st.alive = info.alive;
    st.peer_closed = info.peer_closed;
    st.idle = info.idle;
    st.closed = info.closed;
    st.closed_locally = info.closed_locally;
    st.destroyed = info.destroyed;
    return st;
  }
  uint64_t misuse_count() const {
    std::lock_guard<std::mutex> lock(core_->mu);
    return core_->misuse_count;
  }
  // Every contract violation seen so far, "conn <id>: <what>".
  std::vector<std::string> Misuse() const {
    std::lock_guard<std::mutex> lock(core_->mu);
    std::vector<std::string> out;
    for (const FakeConnectionInfo& info : core_->infos) {
      for (const std::string& m : info.misuse) out.push_back(absl::StrCat("conn ", info.id, ": ", m));
    }
    return out;
  }

  // Scripting. By id, or by slot (the slot's current connection).
  void SetAlive(uint64_t id, bool alive) {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->infos.at(id - 1).alive = alive;
  }
  void SetPeerClosed(uint64_t id, bool peer_closed) {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->infos.at(id - 1).peer_closed = peer_closed;
  }
  // LooksAlive() answers false from now on (Close() still answers true).
  void MarkDead(const Slot& slot) { SetAlive(IdOf(slot), false); }
  // The origin closed first: Close() answers false (no TIME_WAIT here) and
  // LooksAlive() answers false.
  void MarkPeerClosed(const Slot& slot) { SetPeerClosed(IdOf(slot), true); }

  // Defaults for connections opened from now on.
  void set_new_connections_alive(bool alive) {
    std::lock_guard<std::mutex> lock(core_->mu);
    new_connections_alive_ = alive;
  }
  void set_new_connections_peer_closed(bool peer_closed) {
    std::lock_guard<std::mutex> lock(core_->mu);
    new_connections_peer_closed_ = peer_closed;
  }

 private:
  std::shared_ptr<FakeConnection::Core> core_;
  bool new_connections_alive_ = true;
  bool new_connections_peer_closed_ = false;
};

}  // namespace fetchpool

#endif  // FETCHPOOL_TESTS_POOL_FAKE_TRANSPORT_H_
