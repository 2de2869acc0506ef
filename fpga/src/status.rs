//! What a running tool's log says of how far it is, one line at a time: synthesis takes a minute
//! and place and route from minutes to hours on the larger ECP5s, and a user waiting on them
//! should see which phase runs and, while routing, how many arcs are left (as nextpnr's own log
//! says, without reading it).

/// Follows a nextpnr log: the placer's phases and iterations, the placement's Fmax estimate, and
/// the router's progress (router1's remaining arcs, router2's overused wires).
#[derive(Debug, Default)]
pub struct NextpnrStatus {
    /// Whether routing has begun (the Fmax reported after it is the routed design's).
    routing: bool,
    /// Arcs to route, as router1 says when it begins.
    arcs: Option<u64>,
}

impl NextpnrStatus {
    /// The status that `line` gives, if it says anything new.
    pub fn line(&mut self, line: &str) -> Option<String> {
        let text = line.strip_prefix("Info:")?.trim();
        if let Some(rest) = text.strip_prefix("Creating initial analytic placement for ") {
            let cells = rest.split_whitespace().next()?;
            return Some(format!("placing {cells} cells (analytic placer)"));
        }
        if let Some(rest) = text.strip_prefix("at iteration #") {
            let (iteration, rest) = rest.split_once([',', ':'])?;
            return Some(if rest.contains("temp =") {
                format!("refining the placement (annealing), iteration {iteration}")
            } else {
                format!("placing (analytic placer), iteration {iteration}")
            });
        }
        if text.starts_with("Running simulated annealing placer") {
            return Some("refining the placement (annealing)".into());
        }
        if let Some(rest) = text.strip_prefix("Max frequency for clock ") {
            let (_, figure) = rest.split_once("': ")?;
            let mhz = figure.split_whitespace().next()?;
            return Some(if self.routing {
                format!("routed: Fmax {mhz} MHz")
            } else {
                format!("placed: Fmax {mhz} MHz estimated")
            });
        }
        if text.starts_with("Running router2") {
            self.routing = true;
            return Some("routing (router2)".into());
        }
        if let Some(rest) = text.strip_prefix("Routing ") {
            if let Some(arcs) = rest.strip_suffix(" arcs.") {
                let arcs = arcs.parse().ok()?;
                self.routing = true;
                self.arcs = Some(arcs);
                return Some(format!("routing {arcs} arcs"));
            }
        }
        // The electrostatic placer: `iter=N steplen=S a=A penalty=[...]`, once an iteration.
        if let Some(rest) = text.strip_prefix("iter=") {
            if rest.contains("steplen=") {
                let iteration = rest.split_whitespace().next()?;
                return Some(format!(
                    "placing (electrostatic placer), iteration {iteration}"
                ));
            }
        }
        if let Some(it) = Router2Iteration::parse(line) {
            let failing = match it.failing {
                Some(failing) => format!(", {failing} connections failing the constraint"),
                None => String::new(),
            };
            return Some(format!(
                "routing (router2): {} of {} wires overused{failing} (iteration {})",
                it.overused, it.wires, it.iteration
            ));
        }
        // router1's table: iterations | routed w/ and w/o rip-up | delta | remaining | time.
        let arcs = self.arcs?;
        let fields: Vec<&str> = text.split('|').map(str::trim).collect();
        if fields.len() >= 5 {
            if let (Ok(iteration), Ok(left)) = (fields[0].parse::<u64>(), fields[3].parse::<u64>())
            {
                return Some(format!(
                    "routing: {left} of {arcs} arcs left (router iteration {iteration})"
                ));
            }
        }
        None
    }
}

/// An iteration of router2, as its log line says: `iter=N wires=W overused=O overuse=X
/// [resources=.. overused=.. overuse=..] [tmgfail=T] archfail=...`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Router2Iteration {
    /// The iteration, from 1.
    pub iteration: u64,
    /// Wires in use.
    pub wires: u64,
    /// Wires used by more than one net: the routing is legal when none is.
    pub overused: u64,
    /// Connections that fail their clock's constraint, with timing-driven rip-up
    /// (`--tmg-ripup`), which goes on until none does.
    pub failing: Option<u64>,
}

impl Router2Iteration {
    /// The iteration that a nextpnr log line reports, if it is one of router2's.
    pub fn parse(line: &str) -> Option<Router2Iteration> {
        let rest = line.strip_prefix("Info:")?.trim().strip_prefix("iter=")?;
        let iteration = rest.split_whitespace().next()?.parse().ok()?;
        // The first `overused=` is the wires' (a second, after `resources=`, is theirs).
        let field = |key: &str| {
            rest.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key))
                .and_then(|v| v.parse().ok())
        };
        Some(Router2Iteration {
            iteration,
            wires: field("wires=")?,
            overused: field("overused=")?,
            failing: field("tmgfail="),
        })
    }
}

/// The pass a yosys log line says starts (`2.47. Executing ABC9 pass.` gives `2.47 ABC9 pass`).
pub fn yosys_line(line: &str) -> Option<String> {
    let (section, rest) = line.split_once(". Executing ")?;
    if section.is_empty() || !section.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let pass = rest.split(" (").next()?.trim_end_matches('.');
    Some(format!("{section} {pass}"))
}

/// The Fmax that a nextpnr log of a placement without routing (`--no-route`) estimates: each
/// clock's last `Max frequency` line, the slowest clock's figure. `None` when the log has none
/// (nextpnr stopped before its timing analysis).
pub fn placement_estimate_mhz(log: &str) -> Option<f64> {
    let mut by_clock: Vec<(&str, f64)> = Vec::new();
    for line in log.lines() {
        let Some(rest) = line
            .strip_prefix("Info:")
            .or_else(|| line.strip_prefix("Warning:"))
            .map(str::trim)
            .and_then(|text| text.strip_prefix("Max frequency for clock "))
        else {
            continue;
        };
        let Some((clock, figure)) = rest.split_once("': ") else {
            continue;
        };
        let Some(mhz) = figure
            .split_whitespace()
            .next()
            .and_then(|m| m.parse::<f64>().ok())
        else {
            continue;
        };
        match by_clock.iter_mut().find(|(c, _)| *c == clock) {
            Some(entry) => entry.1 = mhz,
            None => by_clock.push((clock, mhz)),
        }
    }
    by_clock.into_iter().map(|(_, mhz)| mhz).reduce(f64::min)
}

/// The Fmax estimate in a nextpnr log of the clock constrained at `constraint_mhz` (the line
/// `Max frequency for clock 'C': F MHz (FAIL at X MHz)` with X that constraint: the core's
/// clock, where others, such as the PLL's input or nextpnr's own nets, are constrained
/// otherwise), its last figure; the slowest clock's ([`placement_estimate_mhz`]) where no
/// line names that constraint.
pub fn constrained_estimate_mhz(log: &str, constraint_mhz: f64) -> Option<f64> {
    let constrained: String = log
        .lines()
        .filter(|line| {
            line.rsplit_once(" at ")
                .and_then(|(_, at)| at.strip_suffix(" MHz)"))
                .and_then(|mhz| mhz.trim().parse::<f64>().ok())
                .is_some_and(|at| (at - constraint_mhz).abs() < 0.005)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    placement_estimate_mhz(&constrained).or_else(|| placement_estimate_mhz(log))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constrained clock's estimate, not a slower clock's constrained otherwise; the
    /// slowest clock's where no line names the constraint.
    #[test]
    fn the_constrained_clock_s_estimate_is_read() {
        let log = "Info: Max frequency for clock 'core': 52.27 MHz (FAIL at 75.00 MHz)\n\
                   Info: Max frequency for clock 'pll_clock': 30.10 MHz (PASS at 9.00 MHz)\n";
        assert_eq!(constrained_estimate_mhz(log, 75.0), Some(52.27));
        assert_eq!(constrained_estimate_mhz(log, 62.5), Some(30.10));
        assert_eq!(constrained_estimate_mhz("Info: nothing\n", 75.0), None);
    }

    /// Lines as nextpnr-ecp5 (YoWASP 0.x, router1) writes them, from the 85F's log.
    #[test]
    fn nextpnr_s_phases_and_the_arcs_left_are_read() {
        let mut status = NextpnrStatus::default();
        let mut saw = |line: &str| status.line(line);
        assert_eq!(saw("Info: Placed 12 cells based on constraints."), None);
        assert_eq!(
            saw("Info: Creating initial analytic placement for 55617 cells, random placement wirelen = 6496222.")
                .as_deref(),
            Some("placing 55617 cells (analytic placer)")
        );
        assert_eq!(
            saw("Info:     at initial placer iter 0, wirelen = 32626"),
            None
        );
        assert_eq!(
            saw("Info:     at iteration #26, type ALL: wirelen solved = 441212, spread = 949305, legal = 1032359; time = 9.27s")
                .as_deref(),
            Some("placing (analytic placer), iteration 26")
        );
        assert_eq!(
            saw("Info: Running simulated annealing placer for refinement.").as_deref(),
            Some("refining the placement (annealing)")
        );
        assert_eq!(
            saw("Info:   at iteration #25: temp = 0.000000, timing cost = 10304, wirelen = 863506")
                .as_deref(),
            Some("refining the placement (annealing), iteration 25")
        );
        assert_eq!(
            saw("Info: Max frequency for clock '$glbnet$core.acc.clock': 36.09 MHz (FAIL at 100.00 MHz)")
                .as_deref(),
            Some("placed: Fmax 36.09 MHz estimated")
        );
        // A table row before routing has begun is nothing.
        assert_eq!(
            saw("Info:       1000 |      525        474 |  525   474 |    251829|       4.36       4.36|"),
            None
        );
        assert_eq!(
            saw("Info: Routing 252106 arcs.").as_deref(),
            Some("routing 252106 arcs")
        );
        assert_eq!(
            saw("Info:    IterCnt |  w/ripup   wo/ripup |  w/r  wo/r |      arcs| batch(sec) total(sec)|"),
            None
        );
        assert_eq!(
            saw("Info:       2000 |     1129        870 |  604   396 |    251688|       0.77       5.13|")
                .as_deref(),
            Some("routing: 251688 of 252106 arcs left (router iteration 2000)")
        );
        assert_eq!(
            saw("Info: Max frequency for clock '$glbnet$core.acc.clock': 58.08 MHz (PASS at 40.00 MHz)")
                .as_deref(),
            Some("routed: Fmax 58.08 MHz")
        );
        assert_eq!(saw("Warning: something else"), None);
    }

    /// The electrostatic placer's and router2's lines (`--placer static --router router2`), from
    /// the 85F's log.
    #[test]
    fn router2_s_iterations_are_read() {
        let mut status = NextpnrStatus::default();
        assert_eq!(
            status
                .line("Info: iter=70 steplen=0.631418 a=36.898563 penalty=[0.00, 0.00, 0.00, 0.00]")
                .as_deref(),
            Some("placing (electrostatic placer), iteration 70")
        );
        assert_eq!(
            status.line("Info: Running router2...").as_deref(),
            Some("routing (router2)")
        );
        assert_eq!(
            status
                .line("Info:     iter=2 wires=1188932 overused=95787 overuse=111123 archfail=NA")
                .as_deref(),
            Some("routing (router2): 95787 of 1188932 wires overused (iteration 2)")
        );
        assert_eq!(status.line("Info:     iter=3 wires=1188932"), None);
        // With timing-driven rip-up (`--tmg-ripup`), the connections that fail the constraint.
        let ripup = "Info:     iter=51 wires=796116 overused=24 overuse=24 tmgfail=35 archfail=NA";
        assert_eq!(
            status.line(ripup).as_deref(),
            Some(
                "routing (router2): 24 of 796116 wires overused, 35 connections failing the \
                 constraint (iteration 51)"
            )
        );
        assert_eq!(
            Router2Iteration::parse(ripup),
            Some(Router2Iteration {
                iteration: 51,
                wires: 796116,
                overused: 24,
                failing: Some(35),
            })
        );
        // The wires' `overused=`, not the resources' after it.
        let resources = "Info:     iter=9 wires=100 overused=7 overuse=8 resources=3 overused=1 \
                         overuse=1 archfail=NA";
        let it = Router2Iteration::parse(resources).unwrap();
        assert_eq!((it.iteration, it.overused, it.failing), (9, 7, None));
        assert_eq!(
            Router2Iteration::parse(
                "Info: iter=70 steplen=0.631418 a=36.898563 penalty=[0.00, 0.00, 0.00, 0.00]"
            ),
            None,
            "the placer's iterations are not the router's"
        );
        assert_eq!(
            status
                .line("Info: Max frequency for clock 'clk': 41.20 MHz (FAIL at 100.00 MHz)")
                .as_deref(),
            Some("routed: Fmax 41.20 MHz")
        );
    }

    #[test]
    fn yosys_s_passes_are_read() {
        assert_eq!(
            yosys_line("2.47. Executing ABC9 pass.").as_deref(),
            Some("2.47 ABC9 pass")
        );
        assert_eq!(
            yosys_line("2.3. Executing OPT_EXPR pass (perform const folding).").as_deref(),
            Some("2.3 OPT_EXPR pass")
        );
        assert_eq!(
            yosys_line("1. Executing Verilog-2005 frontend: top.v").as_deref(),
            Some("1 Verilog-2005 frontend: top.v")
        );
        assert_eq!(
            yosys_line("Warning: Replacing memory \\q_col. Executing"),
            None
        );
        assert_eq!(yosys_line("   Number of cells: 3"), None);
    }

    /// The 85F's placement of seed 7 (`--no-route`), and a log with two clocks.
    #[test]
    fn a_placement_s_estimate_is_its_slowest_clock_s_last_figure() {
        let log = "Info: Placed 192 cells based on constraints.\n\
                   Info: Max frequency for clock '$glbnet$core.acc.clock': 50.13 MHz (FAIL at 55.00 MHz)\n\
                   \n\
                   Info: Max delay <async> -> posedge $glbnet$core.acc.clock: 5.36 ns\n";
        assert_eq!(placement_estimate_mhz(log), Some(50.13));
        let two = "Info: Max frequency for clock 'clk': 41.20 MHz (FAIL at 100.00 MHz)\n\
                   Info: Max frequency for clock 'uart': 300.50 MHz (PASS at 12.00 MHz)\n\
                   Info: Max frequency for clock 'clk': 44.00 MHz (FAIL at 100.00 MHz)\n";
        assert_eq!(placement_estimate_mhz(two), Some(44.0));
        assert_eq!(
            placement_estimate_mhz(
                "Warning: Max frequency for clock 'clk': 38.5 MHz (FAIL at 40.00 MHz)"
            ),
            Some(38.5)
        );
        assert_eq!(
            placement_estimate_mhz("ERROR: Unable to place cell 'x'\n"),
            None
        );
        assert_eq!(
            placement_estimate_mhz("Info: Max frequency for clock 'clk': n/a\n"),
            None
        );
    }
}
