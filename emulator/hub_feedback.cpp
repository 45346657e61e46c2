// Hub: C2D delivery feedback (docs/protocol.md §6.1). A message whose iothub-ack asks for it
// leaves a record when its outcome is known; the service's feedback receiver takes records in
// locked batches and completes or abandons them.
#include <algorithm>

#include <fmt/format.h>

#include "core/feedback.hpp"
#include "core/limits.hpp"
#include "emulator/hub.hpp"
#include "emulator/hub_state.hpp"

namespace azhub::emulator {

void Hub::State::feedback(const QueuedC2dMessage& message, core::FeedbackStatus status) {
  std::optional<std::string_view> ack;
  if (message.properties.system.ack) ack = *message.properties.system.ack;
  if (!core::ack_requests(ack, status)) return;
  FeedbackEntry e;
  e.id = feedback_queue.last_id + 1;
  e.record.original_message_id = message.properties.system.message_id.value_or("");
  // enqueuedTimeUtc is when the outcome happened, not when the message was sent (§6.1).
  e.record.enqueued_ms = now();
  e.record.status = status;
  e.record.description = core::feedback_description(status);
  e.record.device_id = message.device_id;
  if (auto it = identities.find(IdentityKey{message.device_id, {}}); it != identities.end())
    e.record.device_generation_id = it->second.generation_id;
  store.put_feedback(e);
  feedback_queue.last_id = e.id;
  feedback_queue.entries.emplace(e.id, e);
  log(2, "feedback: {} for a message to {} ({} waiting)", core::to_string(status),
      message.device_id, feedback_queue.entries.size());
  notify_feedback();
}

void Hub::State::load_feedback() {
  for (auto& e : store.load_feedback()) {
    feedback_queue.last_id = std::max(feedback_queue.last_id, e.id);
    feedback_queue.entries.emplace(e.id, std::move(e));
  }
}

void Hub::State::drop_expired_feedback() {
  auto& q = feedback_queue;
  const std::int64_t oldest = now() - core::limits::k_feedback_ttl_s * 1000;
  std::size_t dropped = 0;
  for (auto it = q.entries.begin(); it != q.entries.end();) {
    // A locked record is the receiver's until it completes or the lock ends.
    if (it->second.record.enqueued_ms <= oldest && q.locked.count(it->first) == 0) {
      store.erase_feedback(it->first);
      it = q.entries.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  if (dropped != 0) log(1, "feedback: {} record(s) expired unread", dropped);
}

void Hub::State::notify_feedback() {
  auto& q = feedback_queue;
  if (q.listeners.empty() || q.notify_timer != 0) return;
  // Never synchronously: the caller may be in the middle of a PUBACK or a purge, and a
  // listener that takes at once must see the finished state.
  State* state = this;
  q.notify_timer = clock.start_timer(std::chrono::milliseconds(0), [state] {
    state->feedback_queue.notify_timer = 0;
    // A listener may unsubscribe itself (or others) while being called.
    auto listeners = state->feedback_queue.listeners;
    for (auto& [id, fn] : listeners) {
      if (state->feedback_queue.listeners.count(id) != 0) fn();
    }
  });
}

void Hub::State::release_feedback_lock(std::uint64_t lock, bool count_delivery) {
  auto& q = feedback_queue;
  auto it = q.locks.find(lock);
  if (it == q.locks.end()) return;
  FeedbackQueue::Lock l = std::move(it->second);
  q.locks.erase(it);
  std::size_t returned = 0;
  for (std::uint64_t id : l.ids) {
    q.locked.erase(id);
    auto e = q.entries.find(id);
    if (e == q.entries.end()) continue;
    if (count_delivery) {
      e->second.delivery_count += 1;
      if (e->second.delivery_count >= core::limits::k_feedback_max_delivery_count) {
        log(1, "feedback: a record for {} was abandoned {} times, dropped",
            e->second.record.device_id, e->second.delivery_count);
        store.erase_feedback(id);
        q.entries.erase(e);
        continue;
      }
      store.put_feedback(e->second);
    }
    ++returned;
  }
  if (returned != 0) notify_feedback();
}

ListenerId Hub::subscribe_feedback(std::function<void()> available) {
  State& s = *m_state;
  ListenerId id = s.next_listener++;
  s.feedback_queue.listeners[id] = std::move(available);
  if (s.feedback_queue.entries.size() > s.feedback_queue.locked.size()) s.notify_feedback();
  return id;
}

void Hub::unsubscribe_feedback(ListenerId id) {
  m_state->feedback_queue.listeners.erase(id);
}

std::optional<FeedbackBatch> Hub::take_feedback() {
  State& s = *m_state;
  s.drop_expired_feedback();
  auto& q = s.feedback_queue;
  FeedbackBatch batch;
  FeedbackQueue::Lock l;
  for (const auto& [id, e] : q.entries) {
    if (l.ids.size() >= core::limits::k_feedback_batch_records) break;
    if (q.locked.count(id) != 0) continue;
    l.ids.push_back(id);
    batch.records.push_back(e.record);
  }
  if (l.ids.empty()) return std::nullopt;
  batch.lock = q.next_lock++;
  for (std::uint64_t id : l.ids) q.locked.insert(id);
  State* state = &s;
  std::uint64_t lock = batch.lock;
  l.timer = s.clock.start_timer(k_feedback_lock, [state, lock] {
    auto it = state->feedback_queue.locks.find(lock);
    if (it == state->feedback_queue.locks.end()) return;
    it->second.timer = 0;
    state->log(1, "feedback: a batch's lock expired, its records return to the queue");
    state->release_feedback_lock(lock, false);
  });
  q.locks.emplace(batch.lock, std::move(l));
  s.log(2, "feedback: {} record(s) taken", batch.records.size());
  return batch;
}

bool Hub::feedback_lock_held(std::uint64_t lock) const { return m_state->feedback_queue.locks.count(lock) != 0; }

void Hub::complete_feedback(std::uint64_t lock) {
  State& s = *m_state;
  auto& q = s.feedback_queue;
  auto it = q.locks.find(lock);
  if (it == q.locks.end()) return;
  FeedbackQueue::Lock l = std::move(it->second);
  q.locks.erase(it);
  if (l.timer != 0) s.clock.cancel_timer(l.timer);
  for (std::uint64_t id : l.ids) {
    q.locked.erase(id);
    if (q.entries.erase(id) != 0) s.store.erase_feedback(id);
  }
  s.log(2, "feedback: {} record(s) completed", l.ids.size());
}

void Hub::abandon_feedback(std::uint64_t lock) {
  State& s = *m_state;
  auto it = s.feedback_queue.locks.find(lock);
  if (it == s.feedback_queue.locks.end()) return;
  if (it->second.timer != 0) s.clock.cancel_timer(it->second.timer);
  s.log(2, "feedback: a batch was abandoned");
  s.release_feedback_lock(lock, true);
}

}  // namespace azhub::emulator
