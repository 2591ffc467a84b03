using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Dedup.Worker.Hosting;
using Dedup.Worker.Settings;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Dedup.Worker.Health;

/// <summary>
/// Runs the health checks (Redis, RabbitMQ, the MassTransit bus) every <c>Worker:Health:Interval</c> and logs each
/// change of status; when <c>Worker:Health:Port</c> is set, answers <c>GET /health</c> on 127.0.0.1 with 200
/// (healthy or degraded) or 503 and the report as JSON (<c>Dedup.Worker health</c> is the matching probe).
/// </summary>
internal sealed class HealthReporter : BackgroundService
{
    readonly HealthCheckService _checks;
    readonly HealthSettings _settings;
    readonly ILogger<HealthReporter> _logger;
    HealthStatus? _last;

    public HealthReporter(HealthCheckService checks, WorkerSettings settings, ILogger<HealthReporter> logger)
    {
        _checks = checks;
        _settings = settings.Health;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var listener = _settings.Port > 0 ? ServeAsync(stoppingToken) : Task.CompletedTask;
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

        await listener;
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

    async Task ServeAsync(CancellationToken stoppingToken)
    {
        using var listener = new TcpListener(IPAddress.Loopback, _settings.Port);
        listener.Start();
        WorkerLog.HealthListening(_logger, _settings.Port);
        while (!stoppingToken.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await listener.AcceptTcpClientAsync(stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            _ = AnswerAsync(client, stoppingToken);
        }
    }

    async Task AnswerAsync(TcpClient client, CancellationToken stoppingToken)
    {
        using (client)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(10));
                var stream = client.GetStream();
                using var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
                var requestLine = await reader.ReadLineAsync(timeout.Token) ?? string.Empty;
                var found = requestLine.StartsWith("GET /health ", StringComparison.Ordinal) || requestLine.StartsWith("GET /health?", StringComparison.Ordinal);
                var (status, body) = found ? await ReportAsync(timeout.Token) : (404, "{\"error\":\"GET /health\"}");
                var payload = Encoding.UTF8.GetBytes(body);
                var head = Encoding.ASCII.GetBytes(
                    $"HTTP/1.1 {status} {(status == 200 ? "OK" : status == 404 ? "Not Found" : "Service Unavailable")}\r\nContent-Type: application/json\r\nContent-Length: {payload.Length}\r\nConnection: close\r\n\r\n");
                await stream.WriteAsync(head, timeout.Token);
                await stream.WriteAsync(payload, timeout.Token);
            }
            catch (Exception exception) when (exception is IOException or SocketException or OperationCanceledException)
            {
                WorkerLog.HealthRequestFailed(_logger, exception);
            }
        }
    }

    async Task<(int Status, string Body)> ReportAsync(CancellationToken cancellationToken)
    {
        var report = await CheckAsync(cancellationToken);
        var body = JsonSerializer.Serialize(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        });
        return (report.Status == HealthStatus.Unhealthy ? 503 : 200, body);
    }
}
