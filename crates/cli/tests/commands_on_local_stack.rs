//! `gbr create`, `estimate`, `status`, `cancel`, `list` and `watch`, run as a user runs them,
//! against a real local stack (moto, the engine running the real state machine, the
//! batch simulator) started in this process. Needs moto: `bash scripts/moto.sh`.

mod local_stack;

use std::io::Write;
use std::net::{Ipv4Addr, TcpListener};
use std::process::Child;

use flate2::Compression;
use flate2::write::GzEncoder;

use local_stack::{DATA_BUCKET, FILTER_BUCKET, Run, Stack, gbr_command, stack, temp_dir};
use serde_json::{Value, json};

fn job_id(created: &Run) -> String {
    created.json()["BulkJobId"]
        .as_str()
        .unwrap_or_else(|| panic!("no BulkJobId: {created:?}"))
        .to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list["Jobs"]
        .as_array()
        .unwrap_or_else(|| panic!("no Jobs: {list}"))
        .iter()
        .map(|j| j["JobId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn without_a_key_the_three_ways_to_give_one_are_named_and_a_wrong_key_is_refused() {
    let s = stack();
    let config = temp_dir("no-key");
    let out = Run::from_output(
        gbr_command(&config)
            .args(["status", "any-job", "--endpoint", &s.url])
            .output()
            .unwrap(),
    )
    .expect(1);
    for part in ["--api-key", "GBR_API_KEY", "config.toml", "api_key = "] {
        assert!(out.stderr.contains(part), "{part} missing: {out:?}");
    }

    let out = Run::from_output(
        gbr_command(&config)
            .args([
                "status",
                "any-job",
                "--endpoint",
                &s.url,
                "--api-key",
                "wrong",
            ])
            .output()
            .unwrap(),
    )
    .expect(1);
    assert_eq!(
        out.stderr.trim(),
        "error: the API key was refused: check --api-key / GBR_API_KEY"
    );
}

#[test]
fn settings_come_from_the_environment_or_the_config_file() {
    let s = stack();
    let config = temp_dir("settings");
    // The environment: the key is accepted, so the answer is the job's 404.
    let out = Run::from_output(
        gbr_command(&config)
            .args(["status", "no-such-job"])
            .env("GBR_ENDPOINT", &s.url)
            .env("GBR_API_KEY", &s.api_key)
            .output()
            .unwrap(),
    )
    .expect(1);
    assert_eq!(out.stderr.trim(), "error: no job no-such-job");

    // The config file, under XDG_CONFIG_HOME; a flag still wins over it.
    std::fs::create_dir_all(config.join("gbr")).unwrap();
    std::fs::write(
        config.join("gbr/config.toml"),
        format!("endpoint = \"{}\"\napi_key = \"{}\"\n", s.url, s.api_key),
    )
    .unwrap();
    let out = Run::from_output(
        gbr_command(&config)
            .args(["status", "no-such-job"])
            .output()
            .unwrap(),
    )
    .expect(1);
    assert_eq!(out.stderr.trim(), "error: no job no-such-job");
    let out = Run::from_output(
        gbr_command(&config)
            .args(["status", "no-such-job", "--api-key", "flag-wins"])
            .output()
            .unwrap(),
    )
    .expect(1);
    assert!(out.stderr.contains("the API key was refused"), "{out:?}");
}

#[test]
fn an_unknown_job_is_named() {
    let s = stack();
    let out = s.gbr(&["status", "no-such-job"]).expect(1);
    assert_eq!(out.stderr.trim(), "error: no job no-such-job");
    let out = s.gbr(&["cancel", "no-such-job"]).expect(1);
    assert_eq!(out.stderr.trim(), "error: no job no-such-job");
    let out = s.gbr(&["watch", "no-such-job"]).expect(1);
    assert!(
        out.stderr.ends_with("error: no job no-such-job\n"),
        "{out:?}"
    );
}

#[test]
fn a_stack_that_is_down_is_reported_as_such() {
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = Run::from_output(
        gbr_command(&temp_dir("down"))
            .args(["list", "--endpoint", &endpoint, "--api-key", "k"])
            .output()
            .unwrap(),
    )
    .expect(1);
    assert_eq!(
        out.stderr.trim(),
        format!("error: cannot reach {endpoint}: is the stack up? (gbr-local up prints the URL)")
    );
}

#[test]
fn create_from_a_local_file_then_watch_it_complete() {
    let s = stack();
    let manifest = s.manifest_of("complete", 12, "GLACIER");
    let dir = temp_dir("complete");
    let file = dir.join("restore-these.csv");
    std::fs::write(&file, manifest).unwrap();
    let upload_to = format!("s3://{}/uploads/", s.manifest_bucket);
    let created = s
        .gbr(&[
            "create",
            "--file",
            file.to_str().unwrap(),
            "--upload-to",
            &upload_to,
            "--tier",
            "STANDARD",
            "--storage-class",
            "GLACIER",
            "--expiration-days",
            "1",
            "--client-tag",
            "cli-complete",
            "--deadline-hours",
            "48",
            "--progress-step",
            "25",
            "--aws-endpoint-url",
            &s.moto,
            "--json",
        ])
        .expect(0);
    assert!(
        created.stderr.contains("checked ") && created.stderr.contains("12 objects"),
        "{created:?}"
    );
    assert!(
        created.stderr.contains(&format!(
            "uploaded {} to {upload_to}restore-these.csv",
            file.display()
        )),
        "{created:?}"
    );
    let id = job_id(&created);
    assert!(created.json()["ExecutionArn"].as_str().is_some());

    let watched = s.gbr(&["watch", &id, "--interval", "0.2"]).expect(0);
    eprintln!(
        "--- gbr watch {id} --interval 0.2\n{}{}",
        watched.stderr, watched.stdout
    );
    let last = watched.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "job {id} Complete: 12/12 restored, 0 failed (100%) after "
        )),
        "{watched:?}"
    );
    assert!(watched.stdout.contains("Restoring"), "{watched:?}");

    let status = s.gbr(&["status", &id, "--json"]).expect(0).json();
    assert_eq!(status["Status"], "Complete");
    assert_eq!(status["TotalFiles"], 12);
    assert_eq!(status["RestoredFiles"], 12);
    assert_eq!(status["ClientTag"], "cli-complete");
    let text = s.gbr(&["status", &id]).expect(0).stdout;
    assert!(text.contains("status      Complete"), "{text}");
    assert!(
        text.contains("progress    12/12 restored, 0 failed (100%)"),
        "{text}"
    );

    let again = s.gbr(&["cancel", &id]).expect(1);
    assert_eq!(
        again.stderr.trim(),
        format!("error: job {id} has already ended: Complete")
    );
}

#[test]
fn an_invalid_local_manifest_is_refused_before_anything_is_uploaded() {
    let s = stack();
    let dir = temp_dir("invalid");
    let file = dir.join("bad.csv");
    std::fs::write(
        &file,
        format!("{},ok\nonly-one-field\n", local_stack::DATA_BUCKET),
    )
    .unwrap();
    let out = s
        .gbr(&[
            "create",
            "--file",
            file.to_str().unwrap(),
            "--upload-to",
            &format!("s3://{}/uploads/", s.manifest_bucket),
            "--tier",
            "BULK",
            "--expiration-days",
            "1",
            "--aws-endpoint-url",
            &s.moto,
        ])
        .expect(1);
    assert!(out.stderr.contains("line 2:"), "{out:?}");
    assert!(out.stderr.contains("nothing was uploaded"), "{out:?}");
    assert!(!out.stderr.contains("uploaded "), "{out:?}");
}

#[test]
fn a_bad_request_lists_each_field() {
    let s = stack();
    let manifest = s.put_manifest("fields/m.csv", &format!("{},x\n", local_stack::DATA_BUCKET));
    let out = s
        .gbr(&[
            "create",
            "--manifest",
            &manifest,
            "--tier",
            "BULK",
            "--expiration-days",
            "0",
            "--progress-step",
            "99",
        ])
        .expect(1);
    assert!(
        out.stderr
            .starts_with("error: the API refused the request:\n"),
        "{out:?}"
    );
    assert!(out.stderr.contains("\n  expiration_days: is 0;"), "{out:?}");
    assert!(
        out.stderr.contains("\n  progress_step_percent: is 99;"),
        "{out:?}"
    );
}

#[test]
fn cancel_a_running_job_then_watch_exits_cancelled() {
    let s = stack();
    let manifest = s.manifest_of("cancel", 3, "DEEP_ARCHIVE");
    let url = s.put_manifest("cancel/m.csv", &manifest);
    let id = job_id(
        &s.gbr(&[
            "create",
            "--manifest",
            &url,
            "--tier",
            "BULK",
            "--storage-class",
            "DEEP_ARCHIVE",
            "--expiration-days",
            "2",
            "--json",
        ])
        .expect(0),
    );
    // Deep Archive Bulk restores take 24 to 48 hours: seconds here, still under way.
    let cancelled = s.gbr(&["cancel", &id]).expect(0);
    assert!(
        cancelled
            .stdout
            .starts_with(&format!("job {id} Cancelled: ")),
        "{cancelled:?}"
    );

    let watched = s.gbr(&["watch", &id, "--interval", "0.2"]).expect(5);
    let last = watched.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!("job {id} Cancelled: ")),
        "{watched:?}"
    );
    assert!(
        last.ends_with("reason: cancelled through the API"),
        "{watched:?}"
    );
    let lines = s.gbr(&["watch", &id, "--json"]).expect(5);
    let polls: Vec<&str> = lines.stdout.lines().collect();
    assert_eq!(polls.len(), 1, "{lines:?}");
    let view: Value = serde_json::from_str(polls[0]).unwrap();
    assert_eq!(view["Status"], "Cancelled");

    let again = s.gbr(&["cancel", &id]).expect(1);
    assert_eq!(
        again.stderr.trim(),
        format!("error: job {id} has already ended: Cancelled")
    );
}

/// 50 users cancel one running job at the same moment: exactly one cancel wins, the
/// others are told the job has ended, and one Cancelled event reaches subscribers.
#[test]
fn fifty_parallel_cancels_publish_one_cancelled_event() {
    let s = stack();
    let manifest = s.manifest_of("cancel-race", 3, "DEEP_ARCHIVE");
    let url = s.put_manifest("cancel-race/m.csv", &manifest);
    let id = job_id(
        &s.gbr(&[
            "create",
            "--manifest",
            &url,
            "--tier",
            "BULK",
            "--storage-class",
            "DEEP_ARCHIVE",
            "--expiration-days",
            "2",
            "--json",
        ])
        .expect(0),
    );
    let cancels: Vec<Child> = (0..50).map(|_| s.spawn(&["cancel", &id])).collect();
    let runs: Vec<Run> = cancels
        .into_iter()
        .map(|c| Run::from_output(c.wait_with_output().unwrap()))
        .collect();
    let won = runs.iter().filter(|r| r.code == Some(0)).count();
    assert_eq!(won, 1, "{runs:#?}");
    let ended = format!("error: job {id} has already ended: Cancelled");
    for lost in runs.iter().filter(|r| r.code != Some(0)) {
        assert_eq!(
            (lost.code, lost.stderr.trim()),
            (Some(1), ended.as_str()),
            "{lost:#?}"
        );
    }
    let cancelled: Vec<_> = s
        .take_events()
        .into_iter()
        .filter(|e| e.job_id == id && e.status == "Cancelled")
        .collect();
    println!(
        "50 parallel cancels of job {id}: {won} answered 200, {} Cancelled event(s)",
        cancelled.len()
    );
    assert_eq!(cancelled.len(), 1, "{cancelled:#?}");
}

#[test]
fn list_follows_pages_newest_first_and_filters_by_status() {
    let s = stack();
    let manifest = s.manifest_of("list", 2, "DEEP_ARCHIVE");
    let url = s.put_manifest("list/m.csv", &manifest);
    let create = || {
        job_id(
            &s.gbr(&[
                "create",
                "--manifest",
                &url,
                "--tier",
                "BULK",
                "--storage-class",
                "DEEP_ARCHIVE",
                "--expiration-days",
                "1",
                "--client-tag",
                "cli-list",
                "--json",
            ])
            .expect(0),
        )
    };
    let (first, second, third) = (create(), create(), create());
    s.gbr(&["cancel", &second]).expect(0);

    let all = s
        .gbr(&[
            "list",
            "--client-tag",
            "cli-list",
            "--limit",
            "1",
            "--all",
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(ids(&all), [third.as_str(), second.as_str(), first.as_str()]);
    assert_eq!(all["NextToken"], Value::Null);

    let page = s
        .gbr(&["list", "--client-tag", "cli-list", "--limit", "1", "--json"])
        .expect(0)
        .json();
    assert_eq!(ids(&page), [third.as_str()]);
    assert!(page["NextToken"].is_string(), "{page}");
    let token = page["NextToken"].as_str().unwrap();
    let next = s
        .gbr(&[
            "list",
            "--client-tag",
            "cli-list",
            "--limit",
            "1",
            "--next-token",
            token,
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(ids(&next), [second.as_str()]);

    let cancelled = s
        .gbr(&[
            "list",
            "--client-tag",
            "cli-list",
            "--status",
            "Cancelled",
            "--all",
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(ids(&cancelled), [second.as_str()]);
    let running = s
        .gbr(&[
            "list",
            "--client-tag",
            "cli-list",
            "--status",
            "restoring",
            "--all",
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(ids(&running), [third.as_str(), first.as_str()]);

    let table = s
        .gbr(&["list", "--client-tag", "cli-list"])
        .expect(0)
        .stdout;
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 4, "{table}");
    assert!(rows[0].starts_with("JOB ID"), "{table}");
    assert!(
        rows[1].starts_with(&third) && rows[3].starts_with(&first),
        "{table}"
    );
    assert!(
        rows[2].contains("Cancelled") && rows[2].contains("cli-list"),
        "{table}"
    );

    s.cancel_quietly(&[&first, &third]);
}

#[test]
fn the_same_client_token_gives_the_same_job_and_another_request_a_conflict() {
    let s = stack();
    let manifest = s.manifest_of("token", 2, "DEEP_ARCHIVE");
    let url = s.put_manifest("token/m.csv", &manifest);
    let create = |days: &str| {
        s.gbr(&[
            "create",
            "--manifest",
            &url,
            "--tier",
            "BULK",
            "--expiration-days",
            days,
            "--client-token",
            "cli-token-1",
            "--json",
        ])
    };
    let first = job_id(&create("1").expect(0));
    let again = job_id(&create("1").expect(0));
    assert_eq!(first, again);
    let other = create("2").expect(1);
    assert_eq!(
        other.stderr.trim(),
        format!(
            "error: the client token cli-token-1 was already used for job {first} with a \
             different request: send that same request to get that job, or use a new \
             --client-token for a new job"
        )
    );
    s.cancel_quietly(&[&first]);
}

#[test]
fn concurrent_creates_with_one_token_make_one_job() {
    let s = stack();
    let manifest = s.manifest_of("concurrent", 2, "DEEP_ARCHIVE");
    let url = s.put_manifest("concurrent/m.csv", &manifest);
    let args = [
        "create",
        "--manifest",
        &url,
        "--tier",
        "BULK",
        "--expiration-days",
        "1",
        "--client-tag",
        "cli-concurrent",
        "--client-token",
        "cli-concurrent-1",
        "--json",
    ];
    let children = [s.spawn(&args), s.spawn(&args)];
    let runs: Vec<Run> = children
        .into_iter()
        .map(|c| Run::from_output(c.wait_with_output().unwrap()).expect(0))
        .collect();
    let (a, b) = (job_id(&runs[0]), job_id(&runs[1]));
    assert_eq!(a, b);
    let listed = s
        .gbr(&["list", "--client-tag", "cli-concurrent", "--json"])
        .expect(0)
        .json();
    assert_eq!(ids(&listed), [a.as_str()]);
    s.cancel_quietly(&[&a]);
}

#[test]
fn estimate_asks_the_api_for_the_objects_and_both_tiers_fees() {
    let s = stack();
    let manifest = s.manifest_of("estimate", 5, "GLACIER");
    // A repeated row names one object: it is counted once.
    let repeated = manifest.lines().next().unwrap_or_default().to_owned();
    let url = s.put_manifest("estimate/m.csv", &format!("{manifest}{repeated}\r\n"));
    let args = [
        "estimate",
        "--manifest",
        &url,
        "--tier",
        "BULK",
        "--storage-class",
        "GLACIER",
        "--expiration-days",
        "3",
    ];
    let answer = s.gbr(&[&args[..], &["--json"]].concat()).expect(0).json();
    assert_eq!(answer["objects"], 5, "{answer}");
    assert_eq!(answer["skipped"], 0, "{answer}");
    assert_eq!(answer["bytes"], Value::Null, "{answer}");
    assert_eq!(answer["tier"], "BULK", "{answer}");
    let standard = &answer["tiers"]["STANDARD"];
    // 5 / 1,000 * $0.05 for Flexible Retrieval Standard restores, rounded to 4 places.
    assert_eq!(standard["restore_requests_usd"], 0.0003, "{answer}");
    assert_eq!(
        standard["excludes"],
        json!(["retrieval", "restored_storage"]),
        "{answer}"
    );
    // Batch Operations' $0.25 a job, at least.
    let totals = ["STANDARD", "BULK"].map(|t| answer["tiers"][t]["total_usd"].as_f64().unwrap());
    assert!(totals.iter().all(|t| *t > 0.25), "{answer}");
    assert_eq!(answer["prices"]["region"], "us-east-1", "{answer}");

    let text = s.gbr(&args).expect(0).stdout;
    eprintln!("--- gbr estimate --manifest {url}\n{text}");
    assert!(text.starts_with("objects to restore  5\n"), "{text}");
    assert!(
        text.contains("unknown (a CSV manifest has no sizes; --check-objects reads them)"),
        "{text}"
    );
    let total_line = text
        .lines()
        .find(|l| l.starts_with("total "))
        .unwrap_or_default();
    assert!(
        total_line.ends_with(&format!("{:.4}  {:.4}", totals[0], totals[1])),
        "{text}"
    );
    assert!(
        text.contains("\nprices: us-east-1 as of ") && text.contains("(the deployment's region)"),
        "{text}"
    );
}

#[test]
fn estimate_of_a_missing_manifest_fails_with_the_apis_message_naming_it() {
    let s = stack();
    let url = format!("s3://{}/estimate/no-such-manifest.csv", s.manifest_bucket);
    for extra in [
        &[][..],
        &["--check-objects", "--aws-endpoint-url", &s.moto][..],
    ] {
        let args = [
            &[
                "estimate",
                "--manifest",
                &url,
                "--tier",
                "BULK",
                "--expiration-days",
                "1",
            ][..],
            extra,
        ]
        .concat();
        let out = s.gbr(&args).expect(1);
        assert!(
            out.stderr
                .contains(&format!("the manifest {url} does not exist")),
            "{out:?}"
        );
        assert!(out.stdout.is_empty(), "{out:?}");
    }
}

/// Four GLACIER objects of known sizes, two STANDARD ones and one that does not exist:
/// only the GLACIER ones are to restore, with their bytes.
#[test]
fn check_objects_reads_the_sizes_of_archived_objects_and_skips_the_others() {
    let s = stack();
    let sizes = [100, 2_000, 30_000, 400_000];
    let mut manifest = String::new();
    for (i, size) in sizes.iter().enumerate() {
        manifest += &s.put_data_object(&format!("check/glacier-{i}.bin"), "GLACIER", *size);
    }
    for i in 0..2 {
        manifest += &s.put_data_object(&format!("check/standard-{i}.bin"), "STANDARD", 10);
    }
    manifest += &format!("{DATA_BUCKET},check/never-created.bin\r\n");
    let url = s.put_manifest("check/m.csv", &manifest);
    let args = [
        "estimate",
        "--manifest",
        &url,
        "--check-objects",
        "--concurrency",
        "3",
        "--tier",
        "STANDARD",
        "--expiration-days",
        "1",
        "--aws-endpoint-url",
        &s.moto,
    ];
    let answer = s.gbr(&[&args[..], &["--json"]].concat()).expect(0).json();
    let archived_bytes: usize = sizes.iter().sum();
    assert_eq!(answer["objects"], 4, "{answer}");
    assert_eq!(answer["bytes"], archived_bytes, "{answer}");
    assert_eq!(
        answer["skipped_by_reason"],
        json!({"STANDARD": 2, "MISSING": 1}),
        "{answer}"
    );
    assert_eq!(
        answer["tiers"]["STANDARD"]["excludes"],
        json!([]),
        "{answer}"
    );
    assert!(
        answer["tiers"]["STANDARD"]["retrieval_usd"].is_number(),
        "{answer}"
    );
    // The deployment's region, as the API answered it.
    assert_eq!(
        answer["prices"]["requested_region"], "us-east-1",
        "{answer}"
    );

    let text = s.gbr(&args).expect(0).stdout;
    eprintln!("--- gbr estimate --manifest {url} --check-objects\n{text}");
    assert!(
        text.starts_with(
            "HEAD of 7 objects:\n  GLACIER   4 objects, 432,100 bytes (421.97 KiB)\n  \
             STANDARD  2 objects, 20 bytes (20 B)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\n  MISSING           1\n  STANDARD          2\n"),
        "{text}"
    );
    let size_line = text
        .lines()
        .find(|l| l.starts_with("size "))
        .unwrap_or_default();
    assert!(size_line.ends_with(" 432,100 bytes (421.97 KiB)"), "{text}");
    assert!(!text.contains("leave out"), "{text}");

    // The same manifest as a local file: no API, the region given here.
    let file = temp_dir("check-objects").join("m.csv");
    std::fs::write(&file, &manifest).unwrap();
    let local = Run::from_output(
        gbr_command(&temp_dir("check-objects-config"))
            .args([
                "estimate",
                "--file",
                file.to_str().unwrap(),
                "--check-objects",
                "--tier",
                "STANDARD",
                "--expiration-days",
                "1",
                "--region",
                "eu-west-1",
                "--aws-endpoint-url",
                &s.moto,
                "--json",
            ])
            .output()
            .unwrap(),
    )
    .expect(0);
    let local = local.json();
    assert_eq!(local["objects"], 4, "{local}");
    assert_eq!(local["bytes"], archived_bytes, "{local}");
    assert_eq!(local["skipped_by_reason"], answer["skipped_by_reason"]);
    assert_eq!(local["prices"]["requested_region"], "eu-west-1", "{local}");
    assert_eq!(local["prices"]["fallback"], true, "{local}");
    assert_eq!(
        local["tiers"], answer["tiers"],
        "the same objects, the same prices"
    );
}

/// An inventory report in S3: manifest.json, and a data file in its destination bucket
/// large enough to arrive in many pieces.
#[test]
fn manifest_check_reads_an_inventory_report_in_s3() {
    let s = stack();
    let mut rows = String::new();
    for i in 0..20_000 {
        let class = if i % 4 == 0 { "STANDARD" } else { "GLACIER" };
        rows += &format!("\"{DATA_BUCKET}\",\"inv/object%20{i}.bin\",\"10\",\"{class}\"\n");
    }
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(rows.as_bytes()).unwrap();
    let data = gzip.finish().unwrap();
    let data_key = "inventory/cli-archive/all/data/9f3c.csv.gz";
    let data_size = data.len();
    s.put_object(data_key, data);
    let manifest = json!({
        "sourceBucket": DATA_BUCKET,
        "destinationBucket": format!("arn:aws:s3:::{}", s.manifest_bucket),
        "version": "2016-11-30",
        "creationTimestamp": "1764291600000",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, StorageClass",
        "files": [{"key": data_key, "size": data_size, "MD5checksum": ""}],
    });
    let url = s.put_manifest(
        "inventory/cli-archive/all/2026-11-28T01-00Z/manifest.json",
        &manifest.to_string(),
    );
    let out = s
        .gbr(&["manifest", "check", &url, "--aws-endpoint-url", &s.moto])
        .expect(0);
    assert_eq!(
        out.stdout,
        format!(
            "{url}: inventory of bucket {DATA_BUCKET}, 1 data file(s), 20,000 rows\n\
             to restore: 15,000 objects, 150,000 bytes (146.48 KiB)\n  \
             GLACIER  15,000 objects, 150,000 bytes (146.48 KiB)\n\
             skipped: 5,000\n  \
             STANDARD  5,000\n\
             malformed lines: 0\n"
        ),
        "{out:?}"
    );
    let summary = s
        .gbr(&[
            "manifest",
            "check",
            &url,
            "--aws-endpoint-url",
            &s.moto,
            "--json",
        ])
        .expect(0);
    let last = summary.stdout.lines().last().unwrap_or_default();
    let last: Value = serde_json::from_str(last).unwrap();
    assert_eq!(last["valid"], true, "{last}");
    assert_eq!(last["summary"]["to_restore"]["objects"], 15_000, "{last}");
    assert_eq!(summary.stdout.lines().count(), 20_001);
}

/// `gbr estimate --prefix PREFIX EXTRA… --json`, answered.
fn estimate_prefix(s: &Stack, prefix: &str, extra: &[&str]) -> Value {
    let args = [
        &[
            "estimate",
            "--prefix",
            prefix,
            "--tier",
            "BULK",
            "--expiration-days",
            "1",
            "--json",
        ][..],
        extra,
    ]
    .concat();
    s.gbr(&args).expect(0).json()
}

/// The objects, bytes and skipped objects by class of an estimate.
fn counted(answer: &Value) -> (Value, Value, Value) {
    (
        answer["objects"].clone(),
        answer["bytes"].clone(),
        answer["skipped_by_reason"].clone(),
    )
}

/// A whole bucket holding objects in four classes: only GLACIER and DEEP_ARCHIVE ones
/// are to restore; the others are skipped under their class's name.
#[test]
fn estimate_of_a_whole_bucket_counts_only_its_archived_objects() {
    let s = stack();
    let objects = [
        ("a/glacier-0.bin", "GLACIER", 1_000),
        ("a/glacier-1.bin", "GLACIER", 2_500),
        ("b/deep-0.bin", "DEEP_ARCHIVE", 40_000),
        ("deep-1.bin", "DEEP_ARCHIVE", 7),
        ("c/standard-0.bin", "STANDARD", 100),
        ("c/standard-1.bin", "STANDARD", 200),
        ("standard-2.bin", "STANDARD", 300),
        ("d/instant-0.bin", "GLACIER_IR", 5_000),
    ];
    for (key, class, size) in objects {
        s.put_object_in(FILTER_BUCKET, key, class, size);
    }
    let whole = format!("s3://{FILTER_BUCKET}/");
    let answer = estimate_prefix(s, &whole, &[]);
    assert_eq!(answer["objects"], 4, "{answer}");
    assert_eq!(answer["bytes"], 1_000 + 2_500 + 40_000 + 7, "{answer}");
    assert_eq!(answer["skipped"], 4, "{answer}");
    assert_eq!(
        answer["skipped_by_reason"],
        json!({"STANDARD": 3, "GLACIER_IR": 1}),
        "{answer}"
    );
    // A listing gives every size, so the per-GB fees are priced.
    assert_eq!(answer["tiers"]["BULK"]["excludes"], json!([]), "{answer}");

    let text = s
        .gbr(&[
            "estimate",
            "--prefix",
            &whole,
            "--tier",
            "BULK",
            "--expiration-days",
            "1",
        ])
        .expect(0)
        .stdout;
    eprintln!("--- gbr estimate --prefix {whole}\n{text}");
    assert!(
        text.starts_with(
            "objects to restore  4\nskipped             4\n  GLACIER_IR        1\n  \
             STANDARD          3\n"
        ),
        "{text}"
    );
    let size_line = text
        .lines()
        .find(|l| l.starts_with("size "))
        .unwrap_or_default();
    assert!(size_line.ends_with(" 43,507 bytes (42.49 KiB)"), "{text}");
}

/// A prefix is a literal start of the key, not a folder; the other filters narrow it,
/// with sizes inclusive at both ends.
#[test]
fn estimate_of_a_prefix_takes_it_literally_and_applies_each_filter() {
    let s = stack();
    let before_puts = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(60);
    let objects = [
        ("filters/path/a.tif", "GLACIER", 100),
        ("filters/path/b.txt", "DEEP_ARCHIVE", 200),
        ("filters/path/c.tif", "GLACIER", 300),
        ("filters/path-2/d.tif", "DEEP_ARCHIVE", 400),
        ("filters/path-2/e.tif", "STANDARD", 500),
        // Shares "filters/pat" only: under no prefix asked for below.
        ("filters/pat/f.tif", "GLACIER", 50),
    ];
    for (key, class, size) in objects {
        s.put_data_object(key, class, size);
    }
    let path = format!("s3://{DATA_BUCKET}/filters/path");
    let folder = format!("s3://{DATA_BUCKET}/filters/path/");
    let none = json!({});

    assert_eq!(
        counted(&estimate_prefix(s, &path, &[])),
        (json!(4), json!(1_000), json!({"STANDARD": 1})),
        "path also takes path-2/"
    );
    assert_eq!(
        counted(&estimate_prefix(s, &folder, &[])),
        (json!(3), json!(600), none.clone()),
        "path/ takes only its folder"
    );
    assert_eq!(
        counted(&estimate_prefix(s, &path, &["--suffix", ".tif"])),
        (json!(3), json!(800), json!({"STANDARD": 1})),
        "b.txt left out"
    );
    assert_eq!(
        counted(&estimate_prefix(
            s,
            &path,
            &["--min-size", "200", "--max-size", "400"]
        )),
        (json!(3), json!(900), none.clone()),
        "200 and 400 bytes are within; 500 bytes (STANDARD) is not asked for"
    );
    assert_eq!(
        counted(&estimate_prefix(
            s,
            &path,
            &["--min-size", "201", "--max-size", "399"]
        )),
        (json!(1), json!(300), none.clone()),
        "one byte inside each edge leaves c.tif alone"
    );
    assert_eq!(
        counted(&estimate_prefix(s, &path, &["--storage-class", "GLACIER"])),
        (
            json!(2),
            json!(400),
            json!({"DEEP_ARCHIVE": 2, "STANDARD": 1})
        ),
        "a class not asked for is skipped under its name"
    );
    let before = before_puts.to_string();
    assert_eq!(
        counted(&estimate_prefix(s, &path, &["--created-after", &before])),
        (json!(4), json!(1_000), json!({"STANDARD": 1})),
        "all were written after {before}"
    );
    assert_eq!(
        counted(&estimate_prefix(s, &path, &["--created-before", &before])).0,
        json!(0),
        "none was written before {before}"
    );
}

/// The objects a filter selects are the ones the job restores: the estimate's count is
/// the job's, and an object the suffix leaves out is not restored.
#[test]
fn create_by_prefix_then_watch_it_restore_what_the_estimate_counted() {
    let s = stack();
    for i in 0..5 {
        s.put_data_object(&format!("by-prefix/scan-{i}.tif"), "GLACIER", 10 + i);
    }
    s.put_data_object("by-prefix/notes.txt", "GLACIER", 10);
    s.put_data_object("by-prefix/scan-hot.tif", "STANDARD", 10);
    let prefix = format!("s3://{DATA_BUCKET}/by-prefix/");
    let args = [
        "--prefix",
        &prefix,
        "--suffix",
        ".tif",
        "--tier",
        "STANDARD",
        "--expiration-days",
        "1",
        "--client-tag",
        "cli-by-prefix",
        "--json",
    ];
    let estimate = s.gbr(&[&["estimate"][..], &args].concat()).expect(0).json();
    assert_eq!(
        counted(&estimate),
        (
            json!(5),
            json!(10 + 11 + 12 + 13 + 14),
            json!({"STANDARD": 1})
        ),
        "{estimate}"
    );

    let created = s
        .gbr(&[&["create"][..], &args, &["--yes"]].concat())
        .expect(0);
    let id = job_id(&created);
    let watched = s.gbr(&["watch", &id, "--interval", "0.2"]).expect(0);
    eprintln!(
        "--- gbr watch {id} --interval 0.2\n{}{}",
        watched.stderr, watched.stdout
    );
    let last = watched.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(&format!(
            "job {id} Complete: 5/5 restored, 0 failed (100%) after "
        )),
        "{watched:?}"
    );
    let status = s.gbr(&["status", &id, "--json"]).expect(0).json();
    assert_eq!(status["Status"], "Complete", "{status}");
    assert_eq!(status["TotalFiles"], estimate["objects"], "{status}");
    assert_eq!(status["RestoredFiles"], estimate["objects"], "{status}");
    assert_eq!(status["ClientTag"], "cli-by-prefix", "{status}");
}

#[test]
fn a_prefix_in_a_bucket_not_allowed_or_with_no_object_is_refused_naming_it() {
    let s = stack();
    let create = |prefix: &str| {
        s.gbr(&[
            "create",
            "--prefix",
            prefix,
            "--tier",
            "BULK",
            "--expiration-days",
            "1",
            "--client-tag",
            "cli-refused-prefix",
            "--yes",
        ])
        .expect(1)
    };

    // The report bucket exists, but the deployment may not read it.
    let other = format!("s3://{}/", s.report_bucket);
    let out = create(&other);
    assert!(
        out.stderr
            .starts_with("error: the API refused the request:\n"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains(&format!(
            "\n  filter.bucket: {:?} is not a bucket this deployment may read",
            s.report_bucket
        )),
        "{out:?}"
    );
    let estimated = s
        .gbr(&[
            "estimate",
            "--prefix",
            &other,
            "--tier",
            "BULK",
            "--expiration-days",
            "1",
        ])
        .expect(1);
    assert!(
        estimated.stderr.contains("\n  filter.bucket: "),
        "{estimated:?}"
    );

    let empty = format!("s3://{DATA_BUCKET}/no-such-prefix/");
    let out = create(&empty);
    assert!(
        out.stderr
            .contains(&format!("\n  filter.prefixes: no object is under {empty}")),
        "{out:?}"
    );

    let listed = s
        .gbr(&["list", "--client-tag", "cli-refused-prefix", "--json"])
        .expect(0)
        .json();
    assert!(ids(&listed).is_empty(), "nothing was created: {listed}");
}

/// A prefix with more keys than the API lists within its time limit (one page here,
/// 200 deployed): the API answers 422 ListTooLong, and gbr lists it from here, with the
/// same rule, so the estimate is still exact.
#[test]
fn a_prefix_too_long_for_the_api_is_listed_from_here() {
    let s = stack();
    for i in 0..1_000 {
        s.put_object_in(DATA_BUCKET, &format!("many/{i:04}.bin"), "GLACIER", 10);
    }
    s.put_object_in(DATA_BUCKET, "many/x-deep.bin", "DEEP_ARCHIVE", 5);
    s.put_object_in(DATA_BUCKET, "many/y-standard.bin", "STANDARD", 5);
    let prefix = format!("s3://{DATA_BUCKET}/many/");
    let out = s
        .gbr(&[
            "estimate",
            "--prefix",
            &prefix,
            "--tier",
            "BULK",
            "--expiration-days",
            "1",
            "--json",
            "--aws-endpoint-url",
            &s.moto,
        ])
        .expect(0);
    assert!(
        out.stderr.contains("cannot list") && out.stderr.contains("listing it from here"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("listed 1,002 keys"), "{}", out.stderr);
    let answer = out.json();
    assert_eq!(answer["objects"], 1_001, "{answer}");
    assert_eq!(answer["bytes"], 10_005, "{answer}");
    assert_eq!(
        answer["skipped_by_reason"],
        json!({"STANDARD": 1}),
        "{answer}"
    );
}
