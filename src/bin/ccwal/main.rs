fn main() {
    eprintln!("ccwal: not yet");
    std::process::exit(2);
}
