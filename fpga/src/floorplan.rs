//! Where the wide core's matrix memory sits among an ECP5's block RAM rows.
//!
//! Left to itself, nextpnr spreads each matrix tile's block RAMs over every block RAM row of the
//! die, so the words read on port A (to the lanes) and on port B (to each tile's merge, and from
//! it back into the block RAM) converge from all of the rows. On the 85F's 64-lane core, whose
//! matrix memory is 145 of the die's 208 block RAMs, the routing beside those rows was more than
//! nextpnr's router got through in hours. Pinned so that one slice of every tile (the same lanes'
//! bytes, from each tile) sits side by side in one row, a slice's words meet in one place and its
//! merges stay beside their block RAMs: on that core the placement's busiest tile asks for 265
//! wires instead of 380 to 668, none of them in a block RAM row (`scripts/wire-demand.py`).
//! Smaller matrix memories route as nextpnr places them, and are left to it.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The cells of the matrix memory: `mm.tile<t>.<d>.<j>`, yosys's name for the block RAM at depth
/// `d` and bit slice `j` of tile `t` (the core's instance `mm`, `hw/src/core.rs`, and its tiles'
/// memories, `hw/src/memory.rs`), under the board top's `core.` or at the top of a core
/// synthesised alone (`fpga/tests/synthesis.rs` holds the two to the same count).
const MATRIX_TILE: &str = "mm.tile";
/// The ECP5's block RAM cell.
const ECP5_BLOCK_RAM: &str = "DP16KD";

/// The block RAM sites of an ECP5 part whose matrix memory Monorail places itself, row by row
/// (top to bottom), each row left to right, as nextpnr names them (`X4/Y22/EBR0`); `None` for
/// the parts it leaves to nextpnr. The LFE5U-85F has four rows of 52, in thirteen groups of four
/// (as nextpnr-ecp5's placements of the 64-lane core name them: every site of the die but one
/// was used, and the rows repeat one pattern).
pub fn ecp5_block_ram_sites(part: &str) -> Option<Vec<Vec<String>>> {
    match part {
        "LFE5U-85F" => {
            let group_x: Vec<u32> = (0..7)
                .map(|g| 4 + 9 * g)
                .chain((0..6).map(|g| 69 + 9 * g))
                .collect();
            Some(
                [22u32, 46, 70, 82]
                    .iter()
                    .map(|y| {
                        group_x
                            .iter()
                            .flat_map(|x| {
                                (0..4u32).map(move |z| format!("X{}/Y{y}/EBR{z}", x + 2 * z))
                            })
                            .collect()
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

/// The matrix memory's block RAMs in a netlist: (slice, tile) for each, the slice being (bit
/// slice, depth), and the cell's name.
fn matrix_block_rams(netlist: &Value) -> Vec<((u32, u32), u32, String)> {
    let mut found = Vec::new();
    for module in netlist["modules"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(_, m)| m)
    {
        for (name, cell) in module["cells"].as_object().into_iter().flatten() {
            // (A cell whose attributes are not a map, which yosys does not write, is left alone.)
            let attributes = &cell["attributes"];
            if cell["type"] != ECP5_BLOCK_RAM || !(attributes.is_object() || attributes.is_null()) {
                continue;
            }
            let within = name.rsplit_once(&format!(".{MATRIX_TILE}")).map(|(_, r)| r);
            let Some(rest) = within.or_else(|| name.strip_prefix(MATRIX_TILE)) else {
                continue;
            };
            let numbers: Result<Vec<u32>, _> = rest.split('.').map(str::parse).collect();
            if let Ok([tile, depth, slice]) = numbers.as_deref() {
                found.push(((*slice, *depth), *tile, name.clone()));
            }
        }
    }
    found
}

/// Whether a netlist's matrix memory is one Monorail places itself among `sites`: more than half
/// of the device's block RAMs (below that, nextpnr's own placement routes).
pub fn wants_floorplan(netlist: &Value, sites: &[Vec<String>]) -> bool {
    let total: usize = sites.iter().map(Vec::len).sum();
    2 * matrix_block_rams(netlist).len() > total
}

/// Pin the matrix memory's block RAMs (their `BEL` attribute, which nextpnr's placers honour):
/// the slices in order, each slice's tiles side by side in one row, as many slices to a row as
/// it holds, filling the rows in order. The cells pinned and their sites, in the netlist's
/// order; an error, saying why, when the rows do not hold them (the netlist is unchanged then).
pub fn pin_matrix_memory(
    netlist: &mut Value,
    sites: &[Vec<String>],
) -> Result<Vec<(String, String)>, String> {
    let found = matrix_block_rams(netlist);
    let tiles: BTreeSet<u32> = found.iter().map(|(_, t, _)| *t).collect();
    let slices: BTreeSet<(u32, u32)> = found.iter().map(|(s, _, _)| *s).collect();
    if found.is_empty() {
        return Ok(Vec::new());
    }
    // Each slice takes a place for every tile, so that a tile's position in it is its rank.
    let tile_rank: BTreeMap<u32, usize> = tiles.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let mut places = Vec::new(); // (slice index) -> the row and its first site
    for (row, row_sites) in sites.iter().enumerate() {
        for group in 0..row_sites.len() / tiles.len() {
            places.push((row, group * tiles.len()));
        }
    }
    if places.len() < slices.len() {
        return Err(format!(
            "the matrix memory has {} slices of {} tiles' block RAMs, and the rows hold {} such \
             slices",
            slices.len(),
            tiles.len(),
            places.len()
        ));
    }
    let slice_place: BTreeMap<(u32, u32), (usize, usize)> =
        slices.iter().copied().zip(places).collect();
    let by_name: BTreeMap<&str, ((u32, u32), u32)> = found
        .iter()
        .map(|(s, t, n)| (n.as_str(), (*s, *t)))
        .collect();
    let mut pinned = Vec::new();
    for module in netlist["modules"]
        .as_object_mut()
        .into_iter()
        .flatten()
        .map(|(_, m)| m)
    {
        let cells = module["cells"].as_object_mut().into_iter().flatten();
        for (name, cell) in cells {
            if let Some((slice, tile)) = by_name.get(name.as_str()) {
                let (row, first) = slice_place[slice];
                let site = &sites[row][first + tile_rank[tile]];
                cell["attributes"]["BEL"] = Value::from(site.as_str());
                pinned.push((name.clone(), site.clone()));
            }
        }
    }
    Ok(pinned)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use monorail_contract::target::Target;
    use serde_json::json;

    /// A netlist with `tiles` x `slices` matrix block RAMs and, beside them, another block RAM
    /// and a LUT named like a tile's.
    pub(crate) fn netlist(tiles: u32, slices: u32) -> Value {
        let mut cells = serde_json::Map::new();
        for t in 0..tiles {
            for j in 0..slices {
                cells.insert(
                    format!("core.{MATRIX_TILE}{t}.0.{j}"),
                    json!({"type": "DP16KD", "attributes": {"src": "memory.v:1"}}),
                );
            }
        }
        cells.insert(
            "core.vm.mem.0.0".into(),
            json!({"type": "DP16KD", "attributes": {}}),
        );
        cells.insert(
            format!("core.{MATRIX_TILE}0.0.0_LUT4_Z"),
            json!({"type": "LUT4", "attributes": {}}),
        );
        json!({"modules": {"top": {"cells": cells}}})
    }

    fn sites_85f() -> Vec<Vec<String>> {
        ecp5_block_ram_sites("LFE5U-85F").unwrap()
    }

    #[test]
    fn the_85f_sites_are_its_block_rams_once_each() {
        let sites: Vec<String> = sites_85f().into_iter().flatten().collect();
        let distinct: BTreeSet<&String> = sites.iter().collect();
        let device = Target::builtin("ulx3s-85f").unwrap().device.unwrap();
        assert_eq!(device.part, "LFE5U-85F");
        assert_eq!(sites.len(), device.block_rams as usize);
        assert_eq!(distinct.len(), sites.len());
        // Sites seen in nextpnr's placements of the 64-lane core: a row's first and last.
        assert!(distinct.contains(&"X4/Y22/EBR0".to_string()));
        assert!(distinct.contains(&"X120/Y70/EBR3".to_string()));
        assert_eq!(ecp5_block_ram_sites("LFE5U-45F"), None);
    }

    #[test]
    fn each_slice_of_the_tiles_is_pinned_side_by_side_in_one_row() {
        let sites = sites_85f();
        let mut n = netlist(5, 29);
        assert!(wants_floorplan(&n, &sites));
        let pins = pin_matrix_memory(&mut n, &sites).unwrap();
        assert_eq!(pins.len(), 145);
        let cells = &n["modules"]["top"]["cells"];
        let site_of = |t: u32, j: u32| {
            cells[format!("core.{MATRIX_TILE}{t}.0.{j}")]["attributes"]["BEL"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let position = |site: &str| {
            sites
                .iter()
                .enumerate()
                .find_map(|(row, r)| r.iter().position(|s| s == site).map(|i| (row, i)))
                .unwrap()
        };
        let mut used = BTreeSet::new();
        for j in 0..29 {
            let (row, first) = position(&site_of(0, j));
            // Ten slices of five to a row of 52, the rows in order.
            assert_eq!(row, j as usize / 10, "slice {j}");
            for t in 0..5 {
                assert_eq!(position(&site_of(t, j)), (row, first + t as usize));
                assert!(used.insert(site_of(t, j)), "a site taken twice");
            }
        }
        // The attributes synthesis gave are kept; other cells are not pinned.
        assert_eq!(
            cells[format!("core.{MATRIX_TILE}4.0.28")]["attributes"]["src"],
            "memory.v:1"
        );
        assert!(cells["core.vm.mem.0.0"]["attributes"].get("BEL").is_none());
        assert!(
            cells[format!("core.{MATRIX_TILE}0.0.0_LUT4_Z")]["attributes"]
                .get("BEL")
                .is_none()
        );
    }

    #[test]
    fn a_cell_without_attributes_gets_them_and_one_with_odd_ones_is_left_alone() {
        let mut n = netlist(5, 29);
        let cells = n["modules"]["top"]["cells"].as_object_mut().unwrap();
        cells[&format!("core.{MATRIX_TILE}0.0.0")]
            .as_object_mut()
            .unwrap()
            .remove("attributes");
        cells[&format!("core.{MATRIX_TILE}1.0.0")]["attributes"] = json!("odd");
        let pins = pin_matrix_memory(&mut n, &sites_85f()).unwrap();
        assert_eq!(pins.len(), 144);
        let cells = &n["modules"]["top"]["cells"];
        assert_eq!(
            cells[format!("core.{MATRIX_TILE}0.0.0")]["attributes"]["BEL"],
            "X4/Y22/EBR0"
        );
        assert_eq!(
            cells[format!("core.{MATRIX_TILE}1.0.0")]["attributes"],
            "odd"
        );
    }

    #[test]
    fn small_matrix_memories_are_left_to_nextpnr_and_too_large_ones_refused() {
        let sites = sites_85f();
        // A matrix memory of 40 of the 208 block RAMs.
        assert!(!wants_floorplan(&netlist(5, 8), &sites));
        // 8 tiles: six slices to a row, 24 in all.
        let mut n = netlist(8, 25);
        let before = n.clone();
        let why = pin_matrix_memory(&mut n, &sites).unwrap_err();
        assert!(why.contains("25 slices of 8 tiles"), "{why}");
        assert!(why.contains("hold 24"), "{why}");
        assert_eq!(n, before);
    }
}
