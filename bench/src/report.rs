//! The report: plain-text tables for the terminal, the same numbers as JSON.

use serde_json::{json, Value};

use crate::phases::Ttfd;
use crate::stats::{round, summary_json, Table, SUMMARY_HEADER};
use crate::{Results, Settings};

const MIB: f64 = 1024.0 * 1024.0;

pub fn render(settings: &Settings, r: &Results) -> (String, Value) {
    let p = &settings.pacing;
    let mut out = String::new();
    out.push_str("ChatKit bench (release `chatkit`, plain HTTP mode)\n");
    out.push_str(&format!(
        "Machine caveat: {} CPU core(s) shared by the function, this bench (client + model stub) and DynamoDB Local (Java);\n\
         all traffic is loopback; DynamoDB Local is not DynamoDB (no network RTT, different latency profile).\n\
         Numbers are measurements, not pass/fail checks.\n\
         Stub: first token {} ms after the model request arrives, {} deltas {} ms apart, title call answered after {} ms.\n\n",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        p.first_token.as_millis(),
        p.chunks,
        p.chunk_gap.as_millis(),
        p.title_delay.as_millis(),
    ));

    // 1 + 2
    let ready: Vec<f64> = r.cold_starts.iter().map(|c| c.ready_ms).collect();
    let listening: Vec<f64> = r.cold_starts.iter().map(|c| c.listening_ms).collect();
    let first_list: Vec<f64> = r.cold_starts.iter().map(|c| c.first_list_ms).collect();
    let warm_list: Vec<f64> = r.cold_starts.iter().map(|c| c.warm_list_ms).collect();
    let mut t = Table::new(
        "1. Init time, ms (spawn -> ...; table exists, no CHATKIT_CREATE_TABLE)",
        SUMMARY_HEADER,
    );
    t.summary_row("spawn -> first threads.list 200", &ready, 1);
    t.summary_row("spawn -> /healthz answers", &listening, 1);
    t.summary_row("first threads.list (lazy init + query)", &first_list, 1);
    t.summary_row("second threads.list (warm)", &warm_list, 1);
    out.push_str(&t.render());
    out.push_str(&format!(
        "  first start of the run (also creates the table in DynamoDB Local): {:.1} ms to threads.list 200\n\n",
        r.first_start.ready_ms
    ));
    out.push_str(&format!(
        "2. Release binary size: {:.2} MB ({} bytes, {})\n\n",
        r.binary_bytes as f64 / MIB,
        r.binary_bytes,
        settings.bin.display()
    ));

    // 3
    let mut t = Table::new(
        &format!(
            "3. Time to first text delta, ms (sequential: {} threads.create, then {} threads.add_user_message on the first thread after {} warm-up turns)",
            settings.create_turns, settings.turns, settings.warmup_turns
        ),
        SUMMARY_HEADER,
    );
    for api in &r.apis {
        for (op, m) in [("add_user_message", &api.turns.add), ("create", &api.turns.create)] {
            let label = |what: &str| format!("{} {op}: {what}", api.api);
            t.summary_row(&label("server overhead"), &m.overhead_ms, 2);
            t.summary_row(&label("  request -> model call"), &m.before_model_ms, 2);
            t.summary_row(&label("  first token -> client"), &m.after_token_ms, 2);
            t.summary_row(&label("client TTFD (raw)"), &m.ttfd_ms, 2);
            t.summary_row(&label("stub's own first-token time"), &m.stub_ms, 2);
            t.summary_row(&label("whole turn (client)"), &m.total_ms, 1);
        }
    }
    out.push_str(&t.render());
    out.push_str(
        "  Method: the stub runs in the bench process, so client and stub share one monotonic clock.\n\
         \x20 overhead = (client: request sent -> first text_delta frame read) - (stub: model request arrived -> first delta\n\
         \x20 frame pulled by hyper to be written). It splits exactly into `request -> model call` (auth, DynamoDB reads/writes,\n\
         \x20 building and sending the model request) + `first token -> client` (parsing the model's SSE, converting, framing,\n\
         \x20 writing). It includes two loopback HTTP hops and the client's own reqwest overhead (tens of microseconds).\n\n",
    );

    // 4
    let mut t = Table::new("4. DynamoDB requests per turn (`store_requests` of `stream finished`, sequential turns only)", &["", "n", "min", "median", "max"]);
    let mut creates: Vec<f64> = r.seed_creates.clone();
    for api in &r.apis {
        creates.extend(&api.turns.create_store_requests);
    }
    let counts_row = |t: &mut Table, label: &str, values: &[f64]| {
        let s = crate::stats::Summary::of(values);
        t.row(match s {
            Some(s) => vec![
                label.into(),
                s.n.to_string(),
                format!("{}", s.min),
                format!("{}", s.p50),
                format!("{}", s.max),
            ],
            None => vec![label.into(), "0".into(), "-".into(), "-".into(), "-".into()],
        });
    };
    counts_row(&mut t, "threads.create (first turn, incl. title)", &creates);
    for api in &r.apis {
        counts_row(
            &mut t,
            &format!("threads.add_user_message ({})", api.api),
            &api.turns.add_store_requests,
        );
    }
    for (name, concurrency, load) in &r.loads {
        if *concurrency == 1 {
            counts_row(&mut t, &format!("{name} (JSON response)"), &load.store_requests);
        }
    }
    out.push_str(&t.render());
    out.push_str(&format!(
        "  model stub saw {} non-streamed (title) calls and {} unexpected calls in total\n\n",
        r.side_calls.0, r.side_calls.1
    ));

    // 5
    let mut t = Table::new(
        "5. Peak RSS (VmHWM), MB, fresh process per API",
        &["", "after 1 turn", "after N concurrent", "N", "N wall ms", "VmRSS end"],
    );
    for api in &r.apis {
        let m = &api.memory;
        t.row(vec![
            api.api.into(),
            format!("{:.1}", m.after_one_kib as f64 / 1024.0),
            format!("{:.1}", m.after_concurrent_kib as f64 / 1024.0),
            m.concurrent.to_string(),
            format!("{:.0}", m.concurrent_wall_ms),
            format!("{:.1}", m.rss_end_kib as f64 / 1024.0),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');

    // 6
    let mut t = Table::new(
        &format!("6. Non-streaming latency, ms ({} production-shaped threads for the user; items.list on a {}-item thread of every item kind, previews presigned; default page size)", settings.seed_threads, settings.seed_items),
        &["", "n", "min", "p50", "p90", "p99", "max", "req/s", "returned"],
    );
    for (name, concurrency, load) in &r.loads {
        let mut row = vec![format!("{name} @ concurrency {concurrency}")];
        match crate::stats::Summary::of(&load.latencies_ms) {
            Some(s) => row.extend([
                s.n.to_string(),
                format!("{:.2}", s.min),
                format!("{:.2}", s.p50),
                format!("{:.2}", s.p90),
                format!("{:.2}", s.p99),
                format!("{:.2}", s.max),
            ]),
            None => row.extend(std::iter::repeat_n("-".to_string(), 6)),
        }
        row.push(format!("{:.0}", load.latencies_ms.len() as f64 / (load.wall_ms / 1e3)));
        row.push(load.returned.to_string());
        t.row(row);
    }
    out.push_str(&t.render());

    let create_overhead: Vec<(&str, &[f64], &[f64])> = r
        .apis
        .iter()
        .map(|a| {
            (
                a.api,
                a.turns.create.overhead_ms.as_slice(),
                a.turns.create.before_model_ms.as_slice(),
            )
        })
        .collect();
    let (edge_text, edge_json) = crate::edge::render(&r.edge, &create_overhead);
    out.push('\n');
    out.push_str(&edge_text);

    let json = json!({
        "edge": edge_json,
        "machine": {"cpus": std::thread::available_parallelism().map_or(0, std::num::NonZero::get), "network": "loopback", "dynamodb": "DynamoDB Local"},
        "stub": {"first_token_ms": p.first_token.as_millis() as u64, "chunks": p.chunks, "chunk_gap_ms": p.chunk_gap.as_millis() as u64,
            "title_delay_ms": p.title_delay.as_millis() as u64, "title_calls": r.side_calls.0, "unexpected_calls": r.side_calls.1},
        "init_ms": {
            "spawn_to_first_threads_list_200": summary_json(&ready),
            "spawn_to_healthz": summary_json(&listening),
            "first_threads_list": summary_json(&first_list),
            "second_threads_list": summary_json(&warm_list),
            "first_start_with_create_table": round(r.first_start.ready_ms),
        },
        "binary": {"path": settings.bin.display().to_string(), "bytes": r.binary_bytes, "mb": round(r.binary_bytes as f64 / MIB)},
        "first_delta_ms": r.apis.iter().map(|a| (a.api.to_string(), json!({
            "threads.add_user_message": ttfd_json(&a.turns.add),
            "threads.create": ttfd_json(&a.turns.create),
            "stream_ms_logged_add_user_message": summary_json(&a.turns.stream_ms_logged),
        }))).collect::<serde_json::Map<_, _>>(),
        "store_requests": {
            "threads.create": summary_json(&creates),
            "threads.add_user_message": r.apis.iter().map(|a| (a.api.to_string(), summary_json(&a.turns.add_store_requests))).collect::<serde_json::Map<_, _>>(),
            "json": r.loads.iter().filter(|l| l.1 == 1).map(|(n, _, l)| (n.clone(), summary_json(&l.store_requests))).collect::<serde_json::Map<_, _>>(),
        },
        "peak_rss_mb": r.apis.iter().map(|a| (a.api.to_string(), json!({
            "after_one_turn": round(a.memory.after_one_kib as f64 / 1024.0),
            "after_concurrent_turns": round(a.memory.after_concurrent_kib as f64 / 1024.0),
            "concurrent_turns": a.memory.concurrent,
            "rss_end": round(a.memory.rss_end_kib as f64 / 1024.0),
        }))).collect::<serde_json::Map<_, _>>(),
        "json_latency_ms": r.loads.iter().map(|(n, c, l)| json!({
            "operation": n, "concurrency": c, "latency": summary_json(&l.latencies_ms),
            "requests_per_s": round(l.latencies_ms.len() as f64 / (l.wall_ms / 1e3)), "returned": l.returned,
        })).collect::<Vec<_>>(),
    });
    (out, json)
}

fn ttfd_json(m: &Ttfd) -> Value {
    json!({
        "server_overhead": summary_json(&m.overhead_ms),
        "request_to_model_call": summary_json(&m.before_model_ms),
        "first_token_to_client": summary_json(&m.after_token_ms),
        "client_ttfd": summary_json(&m.ttfd_ms),
        "stub_first_token": summary_json(&m.stub_ms),
        "whole_turn": summary_json(&m.total_ms),
        "frames_per_turn": summary_json(&m.frames),
        "server_overhead_per_turn_in_order": m.overhead_ms.iter().map(|v| round(*v)).collect::<Vec<_>>(),
    })
}
