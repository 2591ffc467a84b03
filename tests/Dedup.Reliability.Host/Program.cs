using Dedup.Reliability.Host;
using Dedup.Worker.Hosting;
using Microsoft.Extensions.Hosting;

// The worker as the reliability suite runs it: src/Worker's own registration (AddDedupWorker), with the test-only fault
// hooks of section Worker:Faults on top, so the production binary carries none of them (issue 13). Settings as the
// worker's: appsettings.json (copied from src/Worker) and environment variables; no commands (demo, traffic, health).
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddDedupWorker();
builder.AddWorkerFaults(); // nothing unless Worker:Faults is configured
using var host = builder.Build();
return await host.RunWorkerAsync();
