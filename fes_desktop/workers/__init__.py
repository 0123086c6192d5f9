"""Worker QObjects that run engine work in QThreads and report through queued signals."""
