namespace Dedup.Worker.Traffic;

/// <summary>Sends one planned message the way its producer would.</summary>
internal interface ITrafficSender
{
    Task SendAsync(PlannedMessage message, CancellationToken cancellationToken);
}
