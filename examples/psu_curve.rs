//! Prints a PSU's efficiency and wall power at given DC loads, from an 80 PLUS profile or from
//! measured points, through hostwatt's curve (the numbers in docs/wall-power.md come from here).
//!
//! ```text
//! cargo run -q --example psu_curve -- gold 500 230v-eu 10 20 30 50 100 250
//! cargo run -q --example psu_curve -- points 500 "20:0.78,40:0.85,60:0.875,100:0.90,250:0.92,500:0.90" 10 20 30 50
//! ```

use hostwatt::estimate::psu::{Curve, Level, Mains};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: psu_curve <white|bronze|silver|gold|platinum|titanium> RATED <115v|230v-eu> LOADS... | points RATED \"W:eff,...\" LOADS...";
    let [kind, rated, spec, loads @ ..] = args.as_slice() else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let rated: f64 = rated.parse().expect("RATED is a number of watts");
    let curve = if kind == "points" {
        let pts: Vec<(f64, f64)> = spec
            .split(',')
            .map(|p| {
                let (w, e) = p.split_once(':').expect("points are W:efficiency");
                (w.parse().expect("watts"), e.parse().expect("efficiency"))
            })
            .collect();
        Curve::new(rated, &pts)
    } else {
        let level: Level = serde_json::from_str(&format!("\"{kind}\"")).expect("an 80 PLUS level");
        let mains: Mains = serde_json::from_str(&format!("\"{spec}\"")).expect("115v or 230v-eu");
        Curve::from_profile(level, mains, rated)
    }
    .expect("a valid curve");
    let [a, b, c] = curve.model;
    println!("loss model: a = {a:.3} W, b = {b:.5}, c = {c:.3e} /W");
    println!("| DC load | efficiency | wall (AC) | loss |");
    println!("|---:|---:|---:|---:|");
    for l in loads {
        let p: f64 = l.parse().expect("a load in watts");
        println!(
            "| {p:.0} W | {:.1} % | {:.1} W | {:.1} W |",
            100.0 * curve.efficiency(p),
            curve.input_watts(p),
            curve.loss_watts(p)
        );
    }
}
