using Dedup.Diagnostics;
using Dedup.Protocol;
using Microsoft.Extensions.Logging;

namespace Dedup.Pipeline;

/// <summary>
/// What the MassTransit filters share: the claim protocol (<see cref="Claims"/>), the options, the metrics, the log
/// (the protocol's category, so one filter covers every dedup event) and the application's services, where takeover
/// checks are registered. The protocol itself hands none of these out.
/// </summary>
internal sealed class DedupPipeline(ClaimCoordinator claims, DedupOptions options, DedupMetrics metrics, ILogger<ClaimCoordinator> logger, IServiceProvider? services)
{
    public ClaimCoordinator Claims { get; } = claims;

    public DedupOptions Options { get; } = options;

    public DedupMetrics Metrics { get; } = metrics;

    public ILogger Logger { get; } = logger;

    /// <summary>The application's root services, where takeover checks are registered (null outside a container).</summary>
    public IServiceProvider? Services { get; } = services;
}
