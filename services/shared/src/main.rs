fn main() -> std::process::ExitCode {
    tekup_runtime::main::<shared::Shared>()
}
