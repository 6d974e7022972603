//! Print a sample lab as the resolved model's JSON (what the stand-in loader reads):
//! `sample hosts N NAME`, `sample two-lans NAME`, `sample nat NAME UPLINK`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_owned());
    let lab = match arg(0, "").as_str() {
        "hosts" => warren_lab::sample::hosts_on_switch(
            &arg(2, "big"),
            arg(1, "1000").parse().unwrap_or(1000),
        ),
        "two-lans" => warren_lab::sample::two_lans(&arg(1, "twolans")),
        "nat" => warren_lab::sample::nat(&arg(1, "nat"), &arg(2, "wl-nat-up0")),
        _ => {
            eprintln!("usage: sample hosts N NAME | two-lans NAME | nat NAME UPLINK");
            std::process::exit(2);
        }
    };
    println!("{}", serde_json::to_string(&lab).expect("a lab serializes"));
}
