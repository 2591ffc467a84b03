using Dedup.Worker;
using Dedup.Worker.Hosting;
using Microsoft.Extensions.Hosting;

// Run modes (README, section "Worker"; `--help` lists them):
//   dotnet run --project src/Worker                 the worker: RabbitMQ + Redis, configured by appsettings.json and environment
//   dotnet run --project src/Worker -- demo         the embedded demo: in-memory transport and store, built-in traffic
//   dotnet run --project src/Worker -- traffic ...  drive a real RabbitMQ with payments, duplicates and requests
//   dotnet Dedup.Worker.dll health                  probe a running worker's health endpoint (container health check)
return await Commands.RunAsync(args, RunWorkerAsync);

static async Task<int> RunWorkerAsync(string[] settings)
{
    var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = settings, ContentRootPath = AppContext.BaseDirectory });
    builder.AddDedupWorker();
    using var host = builder.Build();
    return await host.RunWorkerAsync();
}
