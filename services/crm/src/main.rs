fn main() -> std::process::ExitCode {
    tekup_runtime::main::<crm::Crm>()
}
