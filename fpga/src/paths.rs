//! Where the clock goes: nextpnr's critical path, and every clocked endpoint of the routed design
//! grouped by the block of the RTL it belongs to, from `report.json` (written with
//! `--detailed-timing-report`). Fmax names one path, and on a large die the next one is nearly as
//! slow: the blocks whose endpoints a faster clock would fail, how many and by how much, show
//! everything that stands between a design and that clock.

use serde_json::Value;

/// The slowest path of a clock, as nextpnr's report gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct CriticalPath {
    /// The block it starts in (its launching register or memory), named as [`block_of`] names it.
    pub from: String,
    /// The block it ends in.
    pub to: String,
    /// Its delay, setup included: the period of the clock's Fmax.
    pub delay_ns: f64,
    /// How much of it is routing.
    pub routing_ns: f64,
    /// Its slowest net's delay and name.
    pub longest_net: Option<(f64, String)>,
}

/// A block of the RTL (a register, memory or signal of a unit, lanes and bits folded together)
/// and when the signals at its endpoints arrive after the clock edge.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// Its name: the hierarchy and signal of its cells ([`block_of`]).
    pub name: String,
    /// Each endpoint's latest arrival, latest first: at the pin, and at the critical path's
    /// endpoint the path's delay (see [`blocks`]).
    pub arrivals_ns: Vec<f64>,
}

impl Block {
    /// The latest arrival at any of its endpoints.
    pub fn latest_ns(&self) -> f64 {
        self.arrivals_ns.first().copied().unwrap_or(0.0)
    }

    /// Its endpoints that arrive later than `period_ns`: those a clock of that period fails.
    pub fn later_than(&self, period_ns: f64) -> usize {
        self.arrivals_ns.partition_point(|&a| a > period_ns)
    }
}

/// The critical path of the slowest clock (of the paths between clocked cells: those to or from
/// the pins are not the core's), or `None` where the report has none.
pub fn critical_path(report: &Value) -> Option<CriticalPath> {
    let (steps, delay_ns) = critical_steps(report)?;
    let routing = || steps.iter().filter(|s| s["type"] == "routing");
    Some(CriticalPath {
        from: block_of(steps.first()?["from"]["cell"].as_str()?),
        to: block_of(steps.last()?["to"]["cell"].as_str()?),
        delay_ns,
        routing_ns: routing().map(step_delay).sum(),
        longest_net: routing()
            .filter_map(|s| Some((step_delay(s), s["net"].as_str()?.to_string())))
            .max_by(|a, b| a.0.total_cmp(&b.0)),
    })
}

/// A step's delay in nextpnr's report.
fn step_delay(step: &Value) -> f64 {
    step["delay"].as_f64().unwrap_or(0.0)
}

/// The steps of [`critical_path`] and their delay: the slowest of the report's paths between
/// clocked cells.
fn critical_steps(report: &Value) -> Option<(&Vec<Value>, f64)> {
    report["critical_paths"]
        .as_array()?
        .iter()
        .filter(|p| p["from"] != "<async>" && p["to"] != "<async>")
        .filter_map(|p| {
            let steps = p["path"].as_array()?;
            (steps.first()?["from"]["cell"].is_string() && steps.last()?["to"]["cell"].is_string())
                .then(|| (steps, steps.iter().map(step_delay).sum::<f64>()))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// Every clocked endpoint of the report's detailed net timings, grouped by [`block_of`] its
/// cell, the blocks with the latest arrival first; `None` where the report has no detailed
/// timings (nextpnr run without `--detailed-timing-report`).
///
/// nextpnr gives each endpoint's arrival at its pin, which a path's delay (the period of the
/// Fmax) differs from by the endpoint's setup time and, where the architecture's model has a
/// clock network delay, by the launching and capturing clocks' skew. In its ECP5 model the
/// setup is nothing for a flip-flop's data, `M` and clock-enable inputs, 0.424 ns for its
/// synchronous reset (`LSR`) and about 0.2 ns for a block RAM's inputs, and there is no skew;
/// on the Gowin GW2A-18 the critical path's endpoint arrives 0.23 ns after the path's delay
/// (the setup steps and arrivals of this project's builds). The critical path's endpoint is
/// given the path's delay, so that it fails a clock just faster than the Fmax; the others keep
/// their arrivals, off by about as much.
pub fn blocks(report: &Value) -> Option<Vec<Block>> {
    let nets = report["detailed_net_timings"].as_array()?;
    let critical_end = critical_end(report);
    let mut by_name: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for endpoint in nets
        .iter()
        .filter_map(|n| n["endpoints"].as_array())
        .flatten()
        .filter(|e| {
            e["event"]
                .as_str()
                .is_some_and(|e| e.starts_with("posedge ") || e.starts_with("negedge "))
        })
    {
        let Some(cell) = endpoint["cell"].as_str() else {
            continue;
        };
        // nextpnr gives a pair whose larger value is the endpoint's arrival at its pin.
        let arrival = match &endpoint["delay"] {
            Value::Array(pair) => pair.iter().filter_map(Value::as_f64).reduce(f64::max),
            single => single.as_f64(),
        };
        let latest = match &critical_end {
            Some((at_cell, at_port, delay))
                if cell == at_cell && endpoint["port"].as_str() == Some(at_port.as_str()) =>
            {
                Some(*delay)
            }
            _ => arrival,
        };
        if let Some(latest) = latest {
            by_name.entry(block_of(cell)).or_default().push(latest);
        }
    }
    let mut blocks: Vec<Block> = by_name
        .into_iter()
        .map(|(name, mut arrivals_ns)| {
            arrivals_ns.sort_by(|a, b| b.total_cmp(a));
            Block { name, arrivals_ns }
        })
        .collect();
    blocks.sort_by(|a, b| b.latest_ns().total_cmp(&a.latest_ns()));
    Some(blocks)
}

/// The cell and port where the critical path ends, and the path's delay.
fn critical_end(report: &Value) -> Option<(String, String, f64)> {
    let (steps, delay_ns) = critical_steps(report)?;
    let last = steps.last()?;
    Some((
        last["to"]["cell"].as_str()?.to_string(),
        last["to"]["port"].as_str()?.to_string(),
        delay_ns,
    ))
}

/// The block a cell of the routed netlist belongs to: its name up to what synthesis and packing
/// appended (yosys names a cell after the signal it drives, then its cell type and port in capitals
/// after an underscore, or after a `$`), without the indices of a memory's pieces (`.0.12`) and
/// with those of lanes and bits folded (`lane[3]` to `lane[*]`). Cells synthesis named itself
/// (`$abc$...`) are one block, `(synthesis)`.
pub fn block_of(cell: &str) -> String {
    let bytes = cell.as_bytes();
    let mut end = cell.find('$').unwrap_or(cell.len());
    if let Some(i) = (1..end).find(|&i| bytes[i - 1] == b'_' && bytes[i].is_ascii_uppercase()) {
        end = i - 1;
    }
    let mut name = &cell[..end];
    // A memory's pieces: `name.row.column`.
    while let Some((head, tail)) = name.rsplit_once('.') {
        if tail.is_empty() || !tail.bytes().all(|b| b.is_ascii_digit()) {
            break;
        }
        name = head;
    }
    if name.is_empty() {
        return "(synthesis)".to_string();
    }
    let mut folded = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(open) = rest.find('[') {
        folded += &rest[..=open];
        rest = &rest[open + 1..];
        match rest.find(']') {
            Some(close) if rest[..close].bytes().all(|b| b.is_ascii_digit()) => {
                folded.push('*');
                rest = &rest[close..];
            }
            _ => {}
        }
    }
    folded + rest
}

/// What a clock of a given period would fail: [`late_for`].
#[derive(Clone, Debug, PartialEq)]
pub struct Lateness {
    /// Clocked endpoints in all.
    pub endpoints: usize,
    /// Those later than the period.
    pub late: usize,
    /// Blocks with a late endpoint.
    pub late_blocks: usize,
    /// The sum of the late endpoints' lateness (the total negative slack): it weighs every late
    /// path, where Fmax counts one.
    pub total_negative_slack_ns: f64,
    /// The late endpoints by [`unit_of`] their block, the most first.
    pub by_unit: Vec<(String, usize)>,
}

/// How late `blocks`' endpoints are for a clock of `period_ns`.
pub fn late_for(blocks: &[Block], period_ns: f64) -> Lateness {
    let mut lateness = Lateness {
        endpoints: 0,
        late: 0,
        late_blocks: 0,
        total_negative_slack_ns: 0.0,
        by_unit: Vec::new(),
    };
    for block in blocks {
        lateness.endpoints += block.arrivals_ns.len();
        let late = block.later_than(period_ns);
        if late == 0 {
            continue;
        }
        lateness.late += late;
        lateness.late_blocks += 1;
        lateness.total_negative_slack_ns += block.arrivals_ns[..late]
            .iter()
            .map(|arrival| arrival - period_ns)
            .sum::<f64>();
        let unit = unit_of(&block.name);
        match lateness.by_unit.iter_mut().find(|(u, _)| u == unit) {
            Some((_, count)) => *count += late,
            None => lateness.by_unit.push((unit.to_string(), late)),
        }
    }
    lateness
        .by_unit
        .sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    lateness
}

/// The unit a block belongs to: the first two levels of its hierarchy (`core.vxu` for
/// `core.vxu.lane[*].d`), or its one level; `(top)` for the top's own signals.
pub fn unit_of(block: &str) -> &str {
    if block.starts_with('(') {
        return block;
    }
    let Some((hierarchy, _signal)) = block.rsplit_once('.') else {
        return "(top)";
    };
    match hierarchy.match_indices('.').nth(1) {
        Some((second_dot, _)) => &hierarchy[..second_dot],
        None => hierarchy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cells_fold_into_the_blocks_of_the_rtl() {
        for (cell, block) in [
            ("core.seq.i_ra_LUT4_C_2_Z_TRELLIS_FF_DI", "core.seq.i_ra"),
            ("core.seq.rf_3_a.0.2$DPRAM_COMB2", "core.seq.rf_3_a"),
            ("core.mm.tile0.0.12", "core.mm.tile0"),
            (
                "core.vxu.lane[3].e2_t_TRELLIS_FF_Q_20",
                "core.vxu.lane[*].e2_t",
            ),
            ("core.seq.live[23]_TRELLIS_FF_Q_1", "core.seq.live[*]"),
            ("core.mxu.products_TRELLIS_FF_Q_873", "core.mxu.products"),
            (
                "$abc$1234$auto$blifparse.cc:396:parse_blif$5678",
                "(synthesis)",
            ),
            ("out_token", "out_token"),
            ("core.x[a]", "core.x[a]"),
        ] {
            assert_eq!(block_of(cell), block, "{cell}");
        }
    }

    #[test]
    fn blocks_belong_to_the_first_two_levels_of_their_hierarchy() {
        for (block, unit) in [
            ("core.vxu.lane[*].d", "core.vxu"),
            ("core.seq.live[*]", "core.seq"),
            ("core.mm.tile0", "core.mm"),
            ("uart.rx_state", "uart"),
            ("activity", "(top)"),
            ("(synthesis)", "(synthesis)"),
        ] {
            assert_eq!(unit_of(block), unit, "{block}");
        }
    }

    fn endpoint(cell: &str, arrival: f64) -> Value {
        json!({"cell": cell, "port": "DI", "event": "posedge $glbnet$clock",
               "delay": [arrival / 4.0, arrival]})
    }

    #[test]
    fn endpoints_group_by_block_and_count_against_a_period() {
        let report = json!({"detailed_net_timings": [
            {"net": "a", "endpoints": [endpoint("core.vxu.lane[0].d_TRELLIS_FF_Q", 12.0),
                                       endpoint("core.vxu.lane[1].d_TRELLIS_FF_Q_3", 9.5)]},
            {"net": "b", "endpoints": [endpoint("core.seq.live[5]_TRELLIS_FF_Q", 20.5),
                                       endpoint("core.vxu.lane[2].d_TRELLIS_FF_Q", 11.0),
                                       // A pin's: not the core's clock.
                                       {"cell": "uart_tx", "port": "I", "event": "<async>",
                                        "delay": [1.0, 30.0]}]},
        ]});
        let blocks = blocks(&report).unwrap();
        let names: Vec<&str> = blocks.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["core.seq.live[*]", "core.vxu.lane[*].d"]);
        assert_eq!(blocks[1].arrivals_ns, [12.0, 11.0, 9.5]);
        assert_eq!(blocks[1].latest_ns(), 12.0);
        assert_eq!(
            [10.0, 11.0, 9.0, 12.0].map(|p| blocks[1].later_than(p)),
            [2, 1, 3, 0]
        );
        assert_eq!(blocks[0].later_than(10.0), 1);
        let late = late_for(&blocks, 10.0);
        assert_eq!((late.endpoints, late.late, late.late_blocks), (4, 3, 2));
        assert!((late.total_negative_slack_ns - (10.5 + 2.0 + 1.0)).abs() < 1e-9);
        assert_eq!(
            late.by_unit,
            [("core.vxu".to_string(), 2), ("core.seq".to_string(), 1)]
        );
        let none = late_for(&blocks, 25.0);
        assert_eq!((none.late, none.late_blocks, none.by_unit.len()), (0, 0, 0));
        assert_eq!(none.total_negative_slack_ns, 0.0);
        // Without detailed timings there are no blocks to tell.
        assert_eq!(super::blocks(&json!({"fmax": {}})), None);
    }

    #[test]
    fn the_critical_path_is_the_slowest_between_clocked_cells() {
        let step = |kind: &str, delay: f64, from: &str, to: &str, net: Option<&str>| {
            let mut s = json!({"type": kind, "delay": delay,
                               "from": {"cell": from}, "to": {"cell": to}});
            if let Some(net) = net {
                s["net"] = json!(net);
            }
            s
        };
        let report = json!({"critical_paths": [
            {"from": "posedge clock", "to": "posedge clock", "path": [
                step("clk-to-q", 0.5, "core.seq.i_ra_TRELLIS_FF", "core.seq.i_ra_TRELLIS_FF", None),
                step("routing", 12.0, "core.seq.i_ra_TRELLIS_FF", "core.seq.rf_3_a.0.2$DPRAM",
                     Some("core.seq.i_ra")),
                step("logic", 0.3, "core.seq.rf_3_a.0.2$DPRAM", "core.seq.rf_3_a.0.2$DPRAM", None),
                step("routing", 1.5, "core.seq.rf_3_a.0.2$DPRAM", "core.mxu.issue_ra_TRELLIS_FF",
                     Some("rd")),
                step("setup", 0.2, "core.mxu.issue_ra_TRELLIS_FF", "core.mxu.issue_ra_TRELLIS_FF",
                     None),
            ]},
            {"from": "<async>", "to": "posedge clock", "path": [
                step("routing", 40.0, "pin", "core.x_TRELLIS_FF", Some("pin")),
            ]},
        ]});
        let path = critical_path(&report).unwrap();
        assert_eq!(
            (path.from.as_str(), path.to.as_str()),
            ("core.seq.i_ra", "core.mxu.issue_ra")
        );
        assert!((path.delay_ns - 14.5).abs() < 1e-9, "{path:?}");
        assert!((path.routing_ns - 13.5).abs() < 1e-9, "{path:?}");
        assert_eq!(path.longest_net, Some((12.0, "core.seq.i_ra".to_string())));
        assert_eq!(critical_path(&json!({})), None);
    }

    #[test]
    fn the_critical_paths_endpoint_arrives_at_the_paths_delay() {
        // As on the 85F (bef9c41, seed 3): the path ends at a flip-flop's synchronous reset,
        // whose arrival nextpnr gives without the setup step that its path counts.
        let at = |port: &str| json!({"cell": "core.mxu.issue_ra_TRELLIS_FF_Q_40", "port": port});
        let report = json!({
            "critical_paths": [{"from": "posedge clock", "to": "posedge clock", "path": [
                {"type": "clk-to-q", "delay": 0.5, "from": {"cell": "core.seq.i_unit_TRELLIS_FF"},
                 "to": {"cell": "core.seq.i_unit_TRELLIS_FF"}},
                {"type": "routing", "delay": 18.747, "net": "n",
                 "from": {"cell": "core.seq.i_unit_TRELLIS_FF"}, "to": at("LSR")},
                {"type": "setup", "delay": 0.424, "from": at("LSR"), "to": at("LSR")},
            ]}],
            "detailed_net_timings": [
                {"net": "n", "endpoints": [
                    {"cell": "core.mxu.issue_ra_TRELLIS_FF_Q_40", "port": "LSR",
                     "event": "posedge clock", "delay": [6.452, 19.247]},
                    {"cell": "core.mxu.issue_ra_TRELLIS_FF_Q_40", "port": "DI",
                     "event": "posedge clock", "delay": [6.093, 11.262]},
                    {"cell": "core.mxu.issue_ra_TRELLIS_FF_Q_41", "port": "LSR",
                     "event": "posedge clock", "delay": [6.0, 19.0]},
                ]},
            ],
        });
        let path = critical_path(&report).unwrap();
        let blocks = blocks(&report).unwrap();
        assert_eq!(blocks.len(), 1);
        assert!(
            (blocks[0].latest_ns() - path.delay_ns).abs() < 1e-9,
            "{blocks:?}"
        );
        // The other endpoints keep their arrivals: nextpnr does not give their setup.
        assert_eq!(blocks[0].arrivals_ns[1..], [19.0, 11.262]);
        // A clock just faster than the Fmax fails the path's endpoint.
        assert_eq!(blocks[0].later_than(path.delay_ns - 0.01), 1);
        // As on the Tang Nano 20K (bef9c41): the endpoint's arrival is later than the path's
        // delay, which subtracts the capturing clock's delay.
        let mut gowin = report.clone();
        gowin["detailed_net_timings"][0]["endpoints"][0]["delay"] = json!([6.452, 19.9]);
        let blocks = super::blocks(&gowin).unwrap();
        assert!(
            (blocks[0].latest_ns() - path.delay_ns).abs() < 1e-9,
            "{blocks:?}"
        );
    }
}
