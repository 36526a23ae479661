//! The restore-events queue: on moto, or in memory.
//!
//! On moto the simulator posts each restore event with SendMessageBatch and the drain
//! reads them with ReceiveMessage and DeleteMessageBatch, on the real wire protocol.
//! moto computes a queue's attributes by walking all of its messages on every send and
//! every message received, and serves about 80 requests a second even on a short
//! queue, so a run of a million events would take hours on it. In memory, the same
//! queue semantics live in this process: at-least-once delivery, a visibility timeout
//! in clock time, a receive count, and the dead-letter queue after `maxReceiveCount`
//! receives, as `template.yaml` configures them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use gbr_aws::errors::port_error;
use jiff::{SignedDuration, Timestamp};

use crate::engine::clock::{SimClock, add};
use crate::metrics::Usage;
use crate::simulator::RequestError;
use crate::simulator::requests;
use crate::stack::StackError;
use crate::stack::resources::MAX_RECEIVE_COUNT;

/// Which store holds the restore-events queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QueueMode {
    /// moto's SQS (the default: every request on the wire).
    #[default]
    Moto,
    /// A queue in this process, for runs too large for moto.
    Memory,
}

/// `VisibilityTimeout` of the restore-events queue in `template.yaml`, in clock time.
pub const VISIBILITY_TIMEOUT: SignedDuration = SignedDuration::from_secs(360);

/// One message as ReceiveMessage gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub md5_of_body: String,
    /// The system attributes the event source mapping passes on (`ApproximateReceiveCount`,
    /// `SentTimestamp`, `SenderId`, `ApproximateFirstReceiveTimestamp`).
    pub attributes: BTreeMap<String, String>,
}

/// The sender SQS names on messages EventBridge delivers, as in the captured S3 →
/// EventBridge → SQS event in `tests/fixtures/aws/lambda-events/sqs/`.
const EVENTBRIDGE_SENDER_ID: &str = "AIDAJXNJGGKNS7OSV23OI";

/// Where the restore-events queue lives.
#[derive(Clone)]
enum Store {
    Moto {
        sqs: aws_sdk_sqs::Client,
        url: String,
        name: String,
        dead_letter_url: String,
    },
    Memory(Arc<MemoryQueue>),
}

/// The restore-events queue. It counts its requests as production makes them, whatever
/// the store: EventBridge sends each event on its own, and the event source mapping
/// receives up to ten messages and deletes up to ten per request.
#[derive(Clone)]
pub struct RestoreQueue {
    store: Store,
    usage: Arc<Usage>,
}

impl RestoreQueue {
    /// The queue at `url` on moto, with its dead-letter queue.
    pub fn moto(
        sqs: aws_sdk_sqs::Client,
        url: String,
        name: String,
        dead_letter_url: String,
        usage: Arc<Usage>,
    ) -> Self {
        Self {
            store: Store::Moto {
                sqs,
                url,
                name,
                dead_letter_url,
            },
            usage,
        }
    }

    /// A queue in this process, timed by `clock`.
    pub fn memory(clock: Arc<dyn SimClock>, usage: Arc<Usage>) -> Self {
        Self {
            store: Store::Memory(Arc::new(MemoryQueue::new(clock))),
            usage,
        }
    }

    /// Posts messages, as EventBridge (or S3) does.
    pub async fn send(&self, bodies: Vec<String>) -> Result<(), RequestError> {
        self.usage.requests("SQS.SendMessage", bodies.len() as u64);
        match &self.store {
            Store::Moto { sqs, url, .. } => requests::send_messages(sqs, url, bodies).await,
            Store::Memory(queue) => {
                queue.send(bodies);
                Ok(())
            }
        }
    }

    /// Up to ten messages visible now.
    pub async fn receive(&self) -> Result<Vec<Received>, StackError> {
        self.usage.requests("SQS.ReceiveMessage", 1);
        match &self.store {
            Store::Moto { sqs, url, name, .. } => receive_ten(sqs, url, name).await,
            Store::Memory(queue) => Ok(queue.receive(10)),
        }
    }

    /// Deletes handled messages, ten to a request.
    pub async fn delete(&self, messages: &[&Received]) -> Result<(), StackError> {
        self.usage
            .requests("SQS.DeleteMessageBatch", messages.len().div_ceil(10) as u64);
        match &self.store {
            Store::Moto { sqs, url, name, .. } => delete_all(sqs, url, name, messages).await,
            Store::Memory(queue) => {
                queue.delete(messages.iter().map(|m| m.receipt_handle.as_str()));
                Ok(())
            }
        }
    }

    /// Moves every message of the dead-letter queue back to the queue, as
    /// `StartMessageMoveTask` does after an operator fixed what made them fail; they are
    /// received afresh. Returns how many moved.
    pub async fn redrive(&self) -> Result<u64, StackError> {
        match &self.store {
            Store::Moto {
                sqs,
                url,
                dead_letter_url,
                ..
            } => {
                let mut moved = 0;
                loop {
                    let batch = receive_ten(sqs, dead_letter_url, "dead-letter").await?;
                    if batch.is_empty() {
                        return Ok(moved);
                    }
                    let bodies = batch.iter().map(|m| m.body.clone()).collect();
                    requests::send_messages(sqs, url, bodies)
                        .await
                        .map_err(|e| StackError::Queue(e.to_string()))?;
                    let handled: Vec<&Received> = batch.iter().collect();
                    delete_all(sqs, dead_letter_url, "dead-letter", &handled).await?;
                    moved += batch.len() as u64;
                }
            }
            Store::Memory(queue) => Ok(queue.redrive()),
        }
    }

    /// Messages in the queue (visible or not) and in its dead-letter queue.
    pub async fn depth(&self) -> Result<(u64, u64), StackError> {
        match &self.store {
            Store::Moto {
                sqs,
                url,
                dead_letter_url,
                ..
            } => Ok((
                moto_depth(sqs, url).await?,
                moto_depth(sqs, dead_letter_url).await?,
            )),
            Store::Memory(queue) => Ok(queue.depth()),
        }
    }
}

/// Up to ten messages visible now in the queue at `url` on moto (`what`, for errors).
pub(crate) async fn receive_ten(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    what: &str,
) -> Result<Vec<Received>, StackError> {
    let received = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .wait_time_seconds(0)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .map_err(|e| {
            StackError::Queue(port_error("ReceiveMessage", format!("queue {what}"), e).to_string())
        })?;
    Ok(received
        .messages
        .unwrap_or_default()
        .into_iter()
        .map(|m| Received {
            message_id: m.message_id.unwrap_or_default(),
            receipt_handle: m.receipt_handle.unwrap_or_default(),
            body: m.body.unwrap_or_default(),
            md5_of_body: m.md5_of_body.unwrap_or_default(),
            attributes: m
                .attributes
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_owned(), v))
                .collect(),
        })
        .collect())
}

/// Deletes received messages from the queue at `url` on moto, ten to a request.
pub(crate) async fn delete_all(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    what: &str,
    messages: &[&Received],
) -> Result<(), StackError> {
    for group in messages.chunks(10) {
        let entries = group
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&m.receipt_handle)
                    .build()
                    .ok()
            })
            .collect();
        sqs.delete_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| {
                StackError::Queue(
                    port_error("DeleteMessageBatch", format!("queue {what}"), e).to_string(),
                )
            })?;
    }
    Ok(())
}

async fn moto_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, StackError> {
    let names = [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ];
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .set_attribute_names(Some(names.to_vec()))
        .send()
        .await
        .map_err(|e| {
            StackError::Queue(port_error("GetQueueAttributes", url.to_owned(), e).to_string())
        })?
        .attributes
        .unwrap_or_default();
    Ok(names
        .iter()
        .filter_map(|n| attributes.get(n)?.parse::<u64>().ok())
        .sum())
}

struct Message {
    id: String,
    body: String,
    md5: String,
    receives: u32,
    /// Milliseconds since the epoch, by the clock.
    sent_at: i64,
    first_received_at: Option<i64>,
}

#[derive(Default)]
struct QueueState {
    visible: VecDeque<Message>,
    /// Received and not deleted, by receipt handle: visible again at the instant.
    in_flight: HashMap<String, (Timestamp, Message)>,
    dead_letters: Vec<Message>,
}

/// An SQS standard queue in this process, with its dead-letter queue.
struct MemoryQueue {
    clock: Arc<dyn SimClock>,
    state: Mutex<QueueState>,
}

impl MemoryQueue {
    fn new(clock: Arc<dyn SimClock>) -> Self {
        Self {
            clock,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // Each change is made whole under the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, bodies: Vec<String>) {
        let sent_at = self.clock.now().as_millisecond();
        let mut state = self.lock();
        for body in bodies {
            let md5 = requests::md5_hex(body.as_bytes());
            state.visible.push_back(Message {
                id: uuid::Uuid::new_v4().to_string(),
                body,
                md5,
                receives: 0,
                sent_at,
                first_received_at: None,
            });
        }
    }

    fn receive(&self, max: usize) -> Vec<Received> {
        let now = self.clock.now();
        let mut state = self.lock();
        // Messages whose visibility timeout ran out come back, or go to the dead-letter
        // queue once received `MAX_RECEIVE_COUNT` times.
        let expired: Vec<String> = state
            .in_flight
            .iter()
            .filter(|(_, (until, _))| *until <= now)
            .map(|(handle, _)| handle.clone())
            .collect();
        for handle in expired {
            if let Some((_, message)) = state.in_flight.remove(&handle) {
                if message.receives >= MAX_RECEIVE_COUNT {
                    state.dead_letters.push(message);
                } else {
                    state.visible.push_back(message);
                }
            }
        }
        let until = add(now, VISIBILITY_TIMEOUT);
        let mut received = Vec::new();
        while received.len() < max {
            let Some(mut message) = state.visible.pop_front() else {
                break;
            };
            message.receives += 1;
            let first = *message
                .first_received_at
                .get_or_insert(now.as_millisecond());
            let handle = format!("{}#{}", message.id, message.receives);
            received.push(Received {
                message_id: message.id.clone(),
                receipt_handle: handle.clone(),
                body: message.body.clone(),
                md5_of_body: message.md5.clone(),
                attributes: BTreeMap::from([
                    (
                        "ApproximateReceiveCount".into(),
                        message.receives.to_string(),
                    ),
                    ("SentTimestamp".into(), message.sent_at.to_string()),
                    ("SenderId".into(), EVENTBRIDGE_SENDER_ID.into()),
                    ("ApproximateFirstReceiveTimestamp".into(), first.to_string()),
                ]),
            });
            state.in_flight.insert(handle, (until, message));
        }
        received
    }

    fn delete<'a>(&self, handles: impl Iterator<Item = &'a str>) {
        let mut state = self.lock();
        for handle in handles {
            state.in_flight.remove(handle);
        }
    }

    fn redrive(&self) -> u64 {
        let mut state = self.lock();
        let moved: Vec<Message> = state.dead_letters.drain(..).collect();
        let count = moved.len() as u64;
        for mut message in moved {
            message.receives = 0;
            message.first_received_at = None;
            state.visible.push_back(message);
        }
        count
    }

    fn depth(&self) -> (u64, u64) {
        let state = self.lock();
        (
            (state.visible.len() + state.in_flight.len()) as u64,
            state.dead_letters.len() as u64,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::clock::VirtualClock;

    fn queue() -> (Arc<dyn SimClock>, RestoreQueue) {
        let clock = Arc::new(VirtualClock::new(Timestamp::UNIX_EPOCH));
        let queue = RestoreQueue::memory(clock.clone(), Arc::default());
        (clock, queue)
    }

    #[tokio::test]
    async fn messages_come_ten_at_a_time_and_deleted_ones_never_again() {
        let (_, queue) = queue();
        let bodies: Vec<String> = (0..25).map(|i| format!("event {i}")).collect();
        queue.send(bodies.clone()).await.unwrap();
        let mut seen = Vec::new();
        loop {
            let batch = queue.receive().await.unwrap();
            if batch.is_empty() {
                break;
            }
            assert!(batch.len() <= 10);
            queue
                .delete(&batch.iter().collect::<Vec<_>>())
                .await
                .unwrap();
            seen.extend(batch.into_iter().map(|m| m.body));
        }
        assert_eq!(seen, bodies);
        assert_eq!(queue.depth().await.unwrap(), (0, 0));
    }

    #[tokio::test]
    async fn an_undeleted_message_returns_after_the_timeout_then_goes_to_the_dead_letters() {
        let (clock, queue) = queue();
        let _participant = clock.register();
        queue.send(vec!["poison".into()]).await.unwrap();
        for receive in 1..=MAX_RECEIVE_COUNT {
            let batch = queue.receive().await.unwrap();
            assert_eq!(batch.len(), 1, "receive {receive}");
            assert_eq!(batch[0].body, "poison");
            assert_eq!(batch[0].md5_of_body, requests::md5_hex(b"poison"));
            // Invisible until the timeout has run out.
            assert!(queue.receive().await.unwrap().is_empty());
            clock
                .sleep_until(add(clock.now(), VISIBILITY_TIMEOUT))
                .await;
        }
        assert!(queue.receive().await.unwrap().is_empty());
        assert_eq!(queue.depth().await.unwrap(), (0, 1));
    }
}
