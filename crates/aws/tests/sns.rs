//! The SNS notifier against a moto server, read back through a subscribed SQS queue.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use gbr_aws::SnsNotifier;
use gbr_core::decide::Notification;
use gbr_core::event::{BulkEvent, EventFacts};
use gbr_core::ports::Notifier;
use gbr_core::status::JobStatus;
use jiff::Timestamp;

fn event(status: JobStatus, client_tag: Option<&str>) -> BulkEvent {
    let facts = EventFacts {
        job_id: "job-sns-1",
        batch_job_id: Some("batch-1"),
        client_tag,
        total: 200,
        restored: 198,
        excluded: 2,
        reason: None,
    };
    let notification = Notification {
        status,
        percent: 100,
    };
    BulkEvent::new(
        &facts,
        notification,
        Timestamp::from_second(1_700_000_000).unwrap(),
    )
}

#[tokio::test]
async fn events_reach_a_filtered_raw_subscription_with_their_attributes() {
    let config = support::sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);

    let topic_arn = sns
        .create_topic()
        .name(support::unique("events"))
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let queue_url = sqs
        .create_queue()
        .queue_name(support::unique("events-queue"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .unwrap()
        .clone();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .attributes("FilterPolicy", r#"{"Status": ["Complete", "Failed"]}"#)
        .send()
        .await
        .unwrap();

    let notifier = SnsNotifier::new(&config, &topic_arn);
    let restoring = event(JobStatus::Restoring, Some("team-a"));
    let complete = event(JobStatus::Complete, Some("team-a"));
    let failed = event(JobStatus::Failed, None);
    for e in [&restoring, &complete, &failed] {
        notifier.publish(e).await.unwrap();
    }

    let mut received = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while received.len() < 3 && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        received.extend(out.messages().iter().cloned());
        if received.len() == 2 {
            // One more short poll: a third message would be the filtered Restoring.
            let more = sqs
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            received.extend(more.messages().iter().cloned());
            break;
        }
    }
    assert_eq!(
        received.len(),
        2,
        "the filter policy lets Complete and Failed through only"
    );

    let mut by_status: HashMap<String, (BulkEvent, HashMap<String, String>)> = HashMap::new();
    for message in &received {
        let body: BulkEvent =
            serde_json::from_str(message.body().unwrap()).expect("raw delivery: the event JSON");
        let attributes: HashMap<String, String> = message
            .message_attributes()
            .unwrap_or(&HashMap::new())
            .iter()
            .map(|(k, v)| {
                assert_eq!(v.data_type(), "String");
                (k.clone(), v.string_value().unwrap_or_default().to_owned())
            })
            .collect();
        by_status.insert(body.status.clone(), (body, attributes));
    }
    let (body, attributes) = &by_status["Complete"];
    assert_eq!(body, &complete);
    assert_eq!(
        attributes.get("JobId").map(String::as_str),
        Some("job-sns-1")
    );
    assert_eq!(
        attributes.get("Status").map(String::as_str),
        Some("Complete")
    );
    assert_eq!(
        attributes.get("ClientTag").map(String::as_str),
        Some("team-a")
    );
    let (body, attributes) = &by_status["Failed"];
    assert_eq!(body, &failed);
    assert_eq!(attributes.get("Status").map(String::as_str), Some("Failed"));
    assert!(
        !attributes.contains_key("ClientTag"),
        "an empty tag is left out: {attributes:?}"
    );
}
