using Dedup.Worker;
using Dedup.Worker.Hosting;
using Dedup.Worker.Settings;
using Microsoft.Extensions.Hosting;

// Run modes (README, section "Worker"):
//   dotnet run --project src/Worker                 the worker: RabbitMQ + Redis, configured by appsettings.json and environment
//   dotnet run --project src/Worker -- demo         the embedded demo: in-memory transport and store, built-in traffic
//   dotnet run --project src/Worker -- traffic ...  drive a real RabbitMQ with payments, duplicates and requests
//   dotnet Dedup.Worker.dll health                  probe a running worker's health endpoint (container health check)
if (Commands.Dispatch(args) is { } command)
    return await command;

var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
var configuration = WorkerConfiguration.Load(builder.Configuration, out var failures);
if (configuration is null)
    return ExitCodes.ReportInvalidConfiguration(failures);

builder.AddDedupWorker(configuration);
using var host = builder.Build();
return await host.RunWorkerAsync();
