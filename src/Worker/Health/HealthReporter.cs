using Dedup.Worker.Hosting;
using Dedup.Worker.Settings;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Dedup.Worker.Health;

/// <summary>
/// Runs the health checks (Redis, RabbitMQ, the MassTransit bus) every <c>Worker:Health:Interval</c> and logs each
/// change of status; when <c>Worker:Health:Port</c> is set, serves <see cref="HealthEndpoint"/> (<c>GET /health</c>,
/// <c>GET /metrics</c>) on <c>Worker:Health:Address</c> (<c>Dedup.Worker health</c> is the matching probe).
/// </summary>
internal sealed class HealthReporter : BackgroundService
{
    readonly HealthCheckService _checks;
    readonly IHostApplicationLifetime _lifetime;
    readonly HealthSettings _settings;
    readonly MeterProvider? _meterProvider;
    readonly ILogger<HealthReporter> _logger;
    HealthStatus? _last;
    WebApplication? _endpoint;

    // meterProvider: registered, with the Prometheus exporter, whenever the port is set (Telemetry).
    public HealthReporter(HealthCheckService checks, WorkerSettings settings, IHostApplicationLifetime lifetime, ILogger<HealthReporter> logger, MeterProvider? meterProvider = null)
    {
        _checks = checks;
        _lifetime = lifetime;
        _settings = settings.Health;
        _meterProvider = meterProvider;
        _logger = logger;
    }

    /// <summary>
    /// Starts the endpoint before the bus (this service is registered in front of MassTransit's): a port in use fails the
    /// start before any message is taken.
    /// </summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        if (_settings.Port > 0)
        {
            _endpoint = HealthEndpoint.Build(_settings, CheckAsync, _meterProvider);
            await _endpoint.StartAsync(cancellationToken);
            WorkerLog.HealthListening(_logger, _settings.Address, _settings.Port);
        }

        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        if (_endpoint is not null)
        {
            await _endpoint.StopAsync(cancellationToken);
            await _endpoint.DisposeAsync();
            _endpoint = null;
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // The periodic checks (and their log of each change) begin once everything started: the bus is not up before.
        try
        {
            await Task.Delay(Timeout.Infinite, _lifetime.ApplicationStarted).WaitAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (_lifetime.ApplicationStarted.IsCancellationRequested)
        {
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            return;
        }

        using var timer = new PeriodicTimer(_settings.Interval);
        try
        {
            do
            {
                await CheckAsync(stoppingToken);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    async Task<HealthReport> CheckAsync(CancellationToken cancellationToken)
    {
        var report = await _checks.CheckHealthAsync(cancellationToken);
        if (report.Status != _last)
        {
            WorkerLog.HealthChanged(_logger, report.Status, _last,
                string.Join("; ", report.Entries.Select(e => $"{e.Key}: {e.Value.Status} {e.Value.Description}")));
            _last = report.Status;
        }

        return report;
    }
}
