using Dedup.Protocol;
using MassTransit;
using MassTransit.Configuration;

namespace Dedup.Pipeline;

/// <summary>Adds <see cref="DedupFilter{TConsumer,TMessage}"/> to one consumer's pipe for one message type.</summary>
internal sealed class DedupSpecification<TConsumer, TMessage> : IPipeSpecification<ConsumerConsumeContext<TConsumer, TMessage>>
    where TConsumer : class
    where TMessage : class
{
    readonly DedupPipeline _pipeline;

    public DedupSpecification(DedupPipeline pipeline) => _pipeline = pipeline;

    public void Apply(IPipeBuilder<ConsumerConsumeContext<TConsumer, TMessage>> builder) =>
        builder.AddFilter(new DedupFilter<TConsumer, TMessage>(_pipeline));

    public IEnumerable<ValidationResult> Validate()
    {
        if (_pipeline.Options.CustomKeys.ContainsKey(typeof(TMessage)) && _pipeline.Options.Excluded.Contains(typeof(TMessage)))
            yield return this.Failure("Dedup", $"{typeof(TMessage).Name} is both excluded and given a custom key; remove one of Exclude<T>() and KeyFor<T>().");
        string? ambiguous = null;
        try
        {
            _pipeline.Options.CustomKeyFor(typeof(TMessage));
        }
        catch (InvalidOperationException exception)
        {
            ambiguous = exception.Message;
        }

        if (ambiguous is not null)
            yield return this.Failure("Dedup", ambiguous);
    }
}
